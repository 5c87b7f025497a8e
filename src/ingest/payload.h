#pragma once
// Parses one Instagram webhook delivery ({"object":"instagram","entry":[...]})
// into events. Pure function, thread-safe, never throws: a delivery that
// cannot be understood comes back with an error naming the field and problem.
//
// Rules (see README "Event rules"):
// - entry[].messaging[] events: "message" (new, echo when is_echo, deletion
//   when is_deleted), "message_edit", "postback", "reaction", "read".
//   message.reply_to.story {id, url} is kept on the message.
// - entry[].changes[], entry[].standby[] and any other messaging kind are
//   SkippedEvent (never a dead letter).
// - entry.time is seconds (changes[] entries) or milliseconds (messaging),
//   told apart by magnitude; event timestamps are milliseconds.
// - A postback without mid (webhook versions before v11.0) is invalid.
// - Unknown fields are ignored. A known field of the wrong type, a missing mid,
//   a mid longer than kMaxMidLength or not printable ASCII, a missing sender,
//   recipient or timestamp, an account, sender or recipient id that is not
//   1 to kMaxIgIdDigits decimal digits make the whole delivery invalid:
//   nothing of it is stored.

#include <string>
#include <string_view>

#include "hm/events.h"

namespace hm {

struct ParseResult {
  bool ok = false;
  Delivery delivery;
  std::string error;  // set when !ok, e.g. "entry[0].messaging[1].message.mid: is a number, expected a string"
};

ParseResult parse_delivery(std::string_view json);

}  // namespace hm
