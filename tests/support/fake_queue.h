#pragma once
// An in-memory DeliveryQueue for unit tests of the worker loop: read() hands
// out the pushed entries in order (at most `max`, and at most
// Options::per_read when that is set) and counts the reads; ack(),
// dead_letter() and keep_uncounted() record what they were told and succeed.
// Nothing is ever delivered again: an entry left unacknowledged is simply
// gone from the fake. Thread-safe (one mutex): a worker thread reads and acks
// while the test thread pushes and inspects; the accessors return copies.

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "hm/delivery_queue.h"

namespace hm::test {

class FakeQueue final : public DeliveryQueue {
 public:
  struct Options {
    std::size_t per_read = 0;  // entries a read hands out at most; 0: as many as asked for
  };
  struct DeadLetter {
    std::string id;
    std::string reason;
    int attempts = 0;
  };

  FakeQueue() = default;
  explicit FakeQueue(Options options) : options_(options) {}

  // Queues an entry for a later read().
  void push(QueueEntry entry);

  std::vector<std::string> acked() const;          // ids acknowledged, in order
  std::size_t acked_count() const;
  std::vector<OutboundJob> jobs() const;           // jobs published with the acks
  std::vector<DeadLetter> dead() const;            // dead letters written, in order
  std::vector<std::string> uncounted() const;      // ids left pending uncounted
  int reads_made() const;                          // read() calls, empty ones included

  std::vector<QueueEntry> read(std::size_t max) override;
  using DeliveryQueue::ack;
  Status ack(const std::vector<std::string>& ids, const std::vector<OutboundJob>& jobs) override;
  Status dead_letter(const QueueEntry& entry, const std::string& reason, int attempts) override;
  Status keep_uncounted(const std::vector<QueueEntry>& entries) override;

 private:
  const Options options_{};
  mutable std::mutex mutex_;
  std::deque<QueueEntry> entries_;   // guarded by mutex_
  std::vector<std::string> acked_;   // guarded by mutex_
  std::vector<OutboundJob> jobs_;    // guarded by mutex_
  std::vector<DeadLetter> dead_;     // guarded by mutex_
  std::vector<std::string> uncounted_;  // guarded by mutex_
  int reads_made_ = 0;               // guarded by mutex_
};

}  // namespace hm::test
