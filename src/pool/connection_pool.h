#pragma once
// A bounded connection pool with SQLAlchemy QueuePool semantics:
// - at most size + max_overflow connections exist at once, ever (opening
//   ones included: a slot is reserved before connecting);
// - a connection above `size` is closed when returned (overflow), unless
//   another thread is waiting for a connection;
// - checkout waits at most `timeout` (DB_POOL_TIMEOUT), then throws DbError
//   kPoolExhausted ("pool exhausted"); it never hangs;
// - at checkout, a connection older than `recycle` is replaced, and one idle
//   longer than `pre_ping` (DB_POOL_PRE_PING) is pinged; a dead one is replaced;
// - connections are opened, pinged and closed without holding the mutex;
// - discard_all() (as after a failover) closes every idle connection at once
//   and every connection checked out before it when it is returned: each
//   connection carries the pool's generation from when it was opened.
//
// Conn must provide `bool ping()` (true when usable) and
// `bool reset_for_reuse()` (rolls back a transaction left open; false when the
// connection must be discarded). The factory builds a fully initialised
// connection or throws DbError.
//
// Thread-safety: all public members are thread-safe. A Lease belongs to one
// thread at a time and must not outlive the pool.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "hm/clock.h"
#include "pool/db_error.h"

namespace hm {

// The bounded connection pool (SQLAlchemy QueuePool semantics).
struct PoolOptions {
  int size = 10;         // connections kept open when idle
  int max_overflow = 5;  // extra connections allowed under load, closed on return
  // Longest wait for a free connection before checkout fails with "pool exhausted".
  std::chrono::seconds timeout{30};
  // A connection older than this is replaced at checkout. 0 = never.
  std::chrono::seconds recycle{3600};
  // A connection idle longer than this is pinged before it is handed out.
  // 0 = ping at every checkout.
  std::chrono::seconds pre_ping{30};
};

struct PoolStats {
  int size = 0;          // configured
  int max_overflow = 0;  // configured
  int open = 0;          // connections open or being opened
  int in_use = 0;        // checked out
  int idle = 0;          // open and waiting in the pool
  int waiting = 0;       // threads waiting for a connection
  int peak_open = 0;     // highest `open` seen
  std::uint64_t checkouts = 0;
  std::uint64_t checkout_timeouts = 0;
  std::uint64_t connects = 0;   // connections opened
  std::uint64_t recycled = 0;   // replaced for age
  std::uint64_t invalidated = 0;  // replaced after a failed ping or a broken connection
  std::uint64_t discards = 0;     // discard_all() calls (each one a new generation)
  std::uint64_t generation_closed = 0;  // connections closed because discard_all() came after their opening
};

template <class Conn>
class ConnectionPool {
 private:
  struct Entry {
    std::unique_ptr<Conn> conn;
    Clock::time_point created;
    Clock::time_point last_used;
    std::uint64_t generation = 0;  // the pool's generation when it was opened
  };

 public:
  using Factory = std::function<std::unique_ptr<Conn>()>;

  // Called once per checkout with the time spent waiting (for metrics).
  using WaitObserver = std::function<void(std::chrono::steady_clock::duration waited, bool timed_out)>;

  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), entry_(std::move(o.entry_)), discard_(o.discard_) {}
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        release();
        pool_ = std::exchange(o.pool_, nullptr);
        entry_ = std::move(o.entry_);
        discard_ = o.discard_;
      }
      return *this;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { release(); }

    Conn* operator->() const { return entry_->conn.get(); }
    Conn& operator*() const { return *entry_->conn; }
    explicit operator bool() const { return entry_ != nullptr; }
    // The connection is broken or in an unknown state: close it on return.
    void discard() { discard_ = true; }
    bool discarded() const { return discard_; }
    // This connection and every other one of the pool are out of date (the
    // server they point at was demoted): ConnectionPool::discard_all().
    void discard_all() {
      discard_ = true;
      if (pool_) pool_->discard_all();
    }

   private:
    friend class ConnectionPool;
    void release() {
      if (pool_ && entry_) pool_->give_back(std::move(entry_), discard_);
      pool_ = nullptr;
    }
    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<Entry> entry_;
    bool discard_ = false;
  };

  // `observer`, when given, hears of every checkout that had to wait.
  ConnectionPool(PoolOptions options, Factory factory, Clock& clock, WaitObserver observer = {})
      : options_(options), factory_(std::move(factory)), clock_(clock), observer_(std::move(observer)) {}

  ~ConnectionPool() { close(); }

  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  int capacity() const { return options_.size + options_.max_overflow; }

  // Throws DbError: kPoolExhausted after timeout, or the factory's error.
  Lease checkout() {
    const auto started = clock_.now();
    const auto deadline = started + options_.timeout;
    std::unique_ptr<Entry> entry;
    bool must_open = false;
    std::uint64_t generation = 0;  // of a connection opened for this checkout
    {
      std::unique_lock<std::mutex> lock(mutex_);
      for (;;) {
        if (closed_) throw DbError(DbErrorKind::kPermanent, 0, "connection pool is closed");
        if (!idle_.empty()) {
          entry = std::move(idle_.back());
          idle_.pop_back();
          break;
        }
        if (open_ < capacity()) {
          ++open_;  // reserve the slot before connecting, outside the lock
          stats_.peak_open = std::max(stats_.peak_open, open_);
          must_open = true;
          break;
        }
        ++waiting_;
        // Real time for the condition variable; the clock seam decides the deadline.
        const auto remaining = deadline - clock_.now();
        bool woke = remaining > Clock::duration::zero() &&
                    available_.wait_for(lock, remaining, [&] { return closed_ || !idle_.empty() || open_ < capacity(); });
        --waiting_;
        if (!woke) {
          ++stats_.checkout_timeouts;
          auto observer = observer_;
          const int in_use = in_use_;
          lock.unlock();
          if (observer) observer(clock_.now() - started, true);
          throw DbError(DbErrorKind::kPoolExhausted, 0,
                        "pool exhausted: all " + std::to_string(capacity()) + " connections (DB_POOL_SIZE=" +
                            std::to_string(options_.size) + " + DB_MAX_OVERFLOW=" +
                            std::to_string(options_.max_overflow) + ") in use (" + std::to_string(in_use) +
                            " checked out), waited " + std::to_string(options_.timeout.count()) +
                            " s (DB_POOL_TIMEOUT)");
        }
      }
      ++in_use_;
      ++stats_.checkouts;
      generation = generation_;
    }
    // From here on the slot is ours; any failure must give it back.
    try {
      if (!must_open) entry = refresh(std::move(entry));
      if (!entry) entry = open_new(generation);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      --in_use_;
      --open_;
      available_.notify_one();
      throw;
    }
    entry->last_used = clock_.now();
    WaitObserver observer;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      observer = observer_;
    }
    if (observer) observer(clock_.now() - started, false);
    Lease lease;
    lease.pool_ = this;
    lease.entry_ = std::move(entry);
    return lease;
  }

  PoolStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    PoolStats s = stats_;
    s.size = options_.size;
    s.max_overflow = options_.max_overflow;
    s.open = open_;
    s.in_use = in_use_;
    s.idle = static_cast<int>(idle_.size());
    s.waiting = waiting_;
    return s;
  }

  // Closes every idle connection now, and every connection checked out
  // before this call when it comes back; later checkouts open new ones (as
  // after a failover: the pooled connections stay on the demoted server and
  // still answer a ping). Thread-safe; never blocks on the network under the
  // mutex.
  void discard_all() {
    std::deque<std::unique_ptr<Entry>> doomed;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++generation_;
      ++stats_.discards;
      doomed.swap(idle_);
      stats_.generation_closed += doomed.size();
    }
    const int closed = static_cast<int>(doomed.size());
    doomed.clear();  // disconnects outside the lock
    std::lock_guard<std::mutex> lock(mutex_);
    open_ -= closed;
    if (closed > 0) available_.notify_all();
  }

  // Closes idle connections and refuses new checkouts. Leases still out are
  // closed when returned. Safe to call more than once.
  void close() {
    std::deque<std::unique_ptr<Entry>> doomed;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
      doomed.swap(idle_);
      available_.notify_all();
    }
    const int closed = static_cast<int>(doomed.size());
    doomed.clear();  // disconnects outside the lock
    std::lock_guard<std::mutex> lock(mutex_);
    open_ -= closed;
  }

 private:

  // Returns the entry if usable, or nullptr after closing it (caller opens a new one).
  std::unique_ptr<Entry> refresh(std::unique_ptr<Entry> entry) {
    const auto now = clock_.now();
    if (options_.recycle.count() > 0 && now - entry->created >= options_.recycle) {
      entry.reset();
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.recycled;
      return nullptr;
    }
    if (now - entry->last_used >= options_.pre_ping && !entry->conn->ping()) {
      entry.reset();
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.invalidated;
      return nullptr;
    }
    return entry;
  }

  // `generation`: the pool's when the slot was reserved, so a connection
  // opened across a discard_all() counts as opened before it.
  std::unique_ptr<Entry> open_new(std::uint64_t generation) {
    auto entry = std::make_unique<Entry>();
    entry->conn = factory_();
    entry->created = clock_.now();
    entry->last_used = entry->created;
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.connects;
    entry->generation = generation;
    return entry;
  }

  void give_back(std::unique_ptr<Entry> entry, bool discard) {
    if (!discard && !entry->conn->reset_for_reuse()) discard = true;
    entry->last_used = clock_.now();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --in_use_;
      if (discard) {
        ++stats_.invalidated;
      } else if (entry->generation != generation_) {
        discard = true;
        ++stats_.generation_closed;
      }
      // Overflow connections (those above `size`) close when returned, unless
      // a thread is waiting for one: closing and reopening would only churn.
      if (!closed_ && !discard && (open_ <= options_.size || waiting_ > 0)) {
        idle_.push_back(std::move(entry));
        available_.notify_one();
        return;
      }
    }
    // Disconnect outside the lock; the slot stays counted until the
    // connection is really closed, so the bound holds on the server too.
    entry.reset();
    std::lock_guard<std::mutex> lock(mutex_);
    --open_;
    available_.notify_one();
  }

  const PoolOptions options_;
  const Factory factory_;
  Clock& clock_;

  mutable std::mutex mutex_;
  std::condition_variable available_;
  // Guarded by mutex_:
  std::deque<std::unique_ptr<Entry>> idle_;
  int open_ = 0;
  int in_use_ = 0;
  int waiting_ = 0;
  bool closed_ = false;
  std::uint64_t generation_ = 0;
  PoolStats stats_;
  // Constant after construction:
  const WaitObserver observer_;
};

}  // namespace hm
