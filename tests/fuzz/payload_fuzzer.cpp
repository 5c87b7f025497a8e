// libFuzzer target for the webhook payload parser: no crash, no leak, no
// undefined behaviour, whatever the bytes. Built with clang by scripts/fuzz;
// the corpus lives in tests/fuzz/corpus (seeded from the fixtures).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hm/events.h"
#include "ingest/payload.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const hm::ParseResult r = hm::parse_delivery(text);
  if (r.ok) {
    for (const auto& e : r.delivery.events) {
      // Touch every event, as the store would.
      volatile std::size_t n = hm::describe(e).size() + hm::event_mid(e).size();
      (void)n;
    }
  } else if (r.error.empty()) {
    __builtin_trap();  // a rejection must always say why
  }
  return 0;
}
