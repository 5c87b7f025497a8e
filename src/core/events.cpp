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
