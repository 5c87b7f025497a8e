#include "mysql/driver.h"

#include <mysql_driver.h>

namespace hm::mysql {

Driver::Driver() : driver_(sql::mysql::get_mysql_driver_instance()) {}

Driver::ThreadScope::ThreadScope(Driver& driver) : driver_(driver) { driver_.native().threadInit(); }

Driver::ThreadScope::~ThreadScope() { driver_.native().threadEnd(); }

}  // namespace hm::mysql
