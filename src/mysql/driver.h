#pragma once
// Connector/C++ 1.1's driver. get_driver_instance() is not thread-safe, so the
// driver is obtained once, in main, and passed to whatever connects.
// Every thread that uses connections must hold a ThreadScope (threadInit /
// threadEnd of the C client library).

namespace sql {
class Driver;
}

namespace hm::mysql {

class Driver {
 public:
  // Call once, from the main thread, before any other thread starts.
  Driver();
  sql::Driver& native() { return *driver_; }

  // RAII: threadInit() now, threadEnd() at scope exit.
  class ThreadScope {
   public:
    explicit ThreadScope(Driver& driver);
    ~ThreadScope();
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;

   private:
    Driver& driver_;
  };

 private:
  sql::Driver* driver_;  // owned by Connector/C++, lives for the process
};

}  // namespace hm::mysql
