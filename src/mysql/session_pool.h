#pragma once
// The pool of MySQL sessions the stores lease their connections from.

#include "mysql/session.h"
#include "pool/connection_pool.h"

namespace hm::mysql {

using SessionPool = ConnectionPool<Session>;

}  // namespace hm::mysql
