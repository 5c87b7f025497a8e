#include "hm/events.h"

namespace hm {

const char* to_string(Direction d) { return d == Direction::kEcho ? "echo" : "inbound"; }
const char* to_string(MessageKind k) { return k == MessageKind::kPostback ? "postback" : "message"; }

namespace {
struct Describe {
  std::string operator()(const NewMessage& m) const { return m.kind == MessageKind::kPostback ? "postback" : (m.direction == Direction::kEcho ? "echo" : "message"); }
  std::string operator()(const MessageDeletion&) const { return "deletion"; }
  std::string operator()(const MessageEdit&) const { return "edit"; }
  std::string operator()(const Reaction&) const { return "reaction"; }
  std::string operator()(const ReadReceipt&) const { return "read"; }
  std::string operator()(const SkippedEvent& s) const { return "skipped:" + s.kind; }
};
}  // namespace

std::string instagram_id_problem(std::string_view id) {
  if (id.empty()) return "is empty";
  for (const char c : id) {
    if (c < '0' || c > '9') return "is not decimal digits (an Instagram id)";
  }
  if (id.size() > kMaxIgIdDigits)
    return "is " + std::to_string(id.size()) + " digits, longer than the limit of " + std::to_string(kMaxIgIdDigits);
  return "";
}

std::string describe(const Event& e) { return std::visit(Describe{}, e); }

const std::string& event_mid(const Event& e) {
  static const std::string empty;
  return std::visit(
      [](const auto& ev) -> const std::string& {
        if constexpr (requires { ev.mid; }) {
          return ev.mid;
        } else {
          return empty;
        }
      },
      e);
}

}  // namespace hm
