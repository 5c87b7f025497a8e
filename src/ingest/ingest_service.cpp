#include "ingest/ingest_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <unordered_map>

#include "ops/logging.h"
#include "ingest/payload.h"
#include "rules/reply_rules.h"

#include <nlohmann/json.hpp>
#include "core/retry.h"

namespace hm {

IngestService::IngestService(MessageStore& store, Clock& clock, const IngestServiceOptions& options, const StopSignal* stop,
                             Telemetry* telemetry)
    : store_(store), clock_(clock), options_(options), stop_(stop), telemetry_(telemetry ? *telemetry : no_telemetry()) {}

namespace {

std::string event_label(std::size_t index, const Event& ev) {
  return "event " + std::to_string(index) + " (" + describe(ev) + ") mid=" + event_mid(ev);
}

// Folds one event's final store result into its delivery's outcome.
void record(DeliveryOutcome& out, std::size_t index, const Event& ev, const StoreResult& r, int attempts) {
  out.attempts = std::max(out.attempts, attempts);
  out.counts.retries += attempts - 1;
  switch (r.status) {
    case StoreStatus::kInserted: ++out.counts.inserted; break;
    case StoreStatus::kDuplicate: ++out.counts.duplicates; break;
    case StoreStatus::kApplied: ++out.counts.applied; break;
    case StoreStatus::kSkipped: ++out.counts.skipped; break;
    case StoreStatus::kRetryable:
      // Retry-later wins over dead-letter: a later delivery may still store it all.
      out.verdict = Verdict::kRetryLater;
      if (!r.lock_conflict) out.unavailable = "database";
      out.reason = event_label(index, ev) + ": still failing after " + std::to_string(attempts) +
                   " attempts: " + r.error;
      break;
    case StoreStatus::kPermanent:
      // The other events of the delivery are still stored.
      if (out.verdict != Verdict::kRetryLater) {
        out.verdict = Verdict::kDeadLetter;
        if (!out.reason.empty()) out.reason += "; ";
        out.reason += event_label(index, ev) + " cannot be stored: " + r.error;
      }
      break;
  }
}

}  // namespace

bool IngestService::fans_out_to(Role role) const {
  const auto& roles = options_.fan_out.roles;
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

void IngestService::add_jobs(std::vector<Job>& jobs, const NewMessage& m, std::uint64_t message_id) const {
  // What nlohmann dumps for {"message_id": id, "mid": mid} (keys sorted),
  // without building the object for every message.
  std::string payload = "{";
  if (message_id) payload += "\"message_id\":" + std::to_string(message_id) + ",";
  payload += "\"mid\":" + nlohmann::json(m.mid).dump() + "}";
  const bool inbound = m.direction == Direction::kInbound;
  if (inbound && fans_out_to(Role::kEnrich)) jobs.push_back({Role::kEnrich, payload});
  if (m.attachments_json && fans_out_to(Role::kMedia)) jobs.push_back({Role::kMedia, payload});
  if (inbound && options_.fan_out.rules && fans_out_to(Role::kReply) &&
      options_.fan_out.rules->match(m.account_id, m.text.value_or(""), clock_.wall_ms()).has_value()) {
    jobs.push_back({Role::kReply, payload});
  }
}

DeliveryOutcome IngestService::ingest(std::string_view payload) const {
  return ingest_batch({payload}).front();
}

// One ingest_batch() call: the parsed deliveries and their new messages, one
// per mid (the first occurrence wins; later ones are duplicates within the batch).
struct IngestService::Batch {
  struct Slot {
    std::size_t delivery;
    std::size_t event;
  };
  std::vector<ParseResult> parsed;
  std::vector<DeliveryOutcome> outcomes;
  std::vector<NewMessage> unique;
  std::vector<Slot> first_seen;  // where unique[i] came from
  std::vector<Slot> repeats;     // later occurrences of a mid
  std::unordered_map<std::string, std::size_t> index_of;  // mid -> index in unique
  std::vector<StoreResult> results;  // per unique message
  std::vector<int> attempts;         // per unique message
  // The first failure that was not a lock conflict (a lost or refused
  // connection, an exhausted pool...): the events not yet tried get it untried,
  // so one unreachable server costs one retry budget per batch, not one per event.
  std::optional<StoreResult> unreachable;

  explicit Batch(const std::vector<std::string_view>& payloads) : parsed(payloads.size()), outcomes(payloads.size()) {
    for (std::size_t d = 0; d < payloads.size(); ++d) {
      parsed[d] = parse_delivery(payloads[d]);
      if (!parsed[d].ok) {
        outcomes[d].verdict = Verdict::kDeadLetter;
        outcomes[d].reason = "bad payload: " + parsed[d].error;
        continue;
      }
      const auto& events = parsed[d].delivery.events;
      for (std::size_t e = 0; e < events.size(); ++e) {
        const auto* m = std::get_if<NewMessage>(&events[e]);
        if (!m) continue;
        auto [it, fresh] = index_of.emplace(m->mid, unique.size());
        if (fresh) {
          unique.push_back(*m);
          first_seen.push_back({d, e});
        } else {
          repeats.push_back({d, e});
        }
      }
    }
    results.resize(unique.size());
    attempts.assign(unique.size(), 1);
  }
};

std::vector<DeliveryOutcome> IngestService::ingest_batch(const std::vector<std::string_view>& payloads) const {
  Batch b(payloads);
  store_new_messages(b);
  for (const StoreResult& r : b.results) {
    if (!b.unreachable && r.status == StoreStatus::kRetryable && !r.lock_conflict) b.unreachable = r;
  }
  for (std::size_t i = 0; i < b.unique.size(); ++i) {
    const Batch::Slot s = b.first_seen[i];
    record(b.outcomes[s.delivery], s.event, b.parsed[s.delivery].delivery.events[s.event], b.results[i], b.attempts[i]);
    if (options_.fan_out.enabled && b.results[i].ok())
      add_jobs(b.outcomes[s.delivery].jobs, b.unique[i], b.results[i].message_id);
  }
  for (const Batch::Slot& s : b.repeats) {
    const Event& ev = b.parsed[s.delivery].delivery.events[s.event];
    const StoreResult& first = b.results[b.index_of.at(std::get<NewMessage>(ev).mid)];
    StoreResult r = first;
    if (first.status == StoreStatus::kInserted) r.status = StoreStatus::kDuplicate;
    record(b.outcomes[s.delivery], s.event, ev, r, 1);
  }
  store_other_events(b);
  return std::move(b.outcomes);
}

// The batch's new messages together; only the ones that failed retryably are retried.
void IngestService::store_new_messages(Batch& b) const {
  if (b.unique.empty()) return;
  std::vector<std::size_t> pending(b.unique.size());
  for (std::size_t i = 0; i < pending.size(); ++i) pending[i] = i;
  Backoff backoff(options_.retry, clock_, {}, stop_);
  std::vector<NewMessage> subset;  // the ones to retry (the first try takes them all, uncopied)
  for (;;) {
    if (pending.size() != b.unique.size()) {
      subset.clear();
      for (std::size_t i : pending) subset.push_back(b.unique[i]);
    }
    const auto got = store_.store_messages(pending.size() == b.unique.size() ? b.unique : subset, options_.per_transaction);
    std::vector<std::size_t> again;
    for (std::size_t k = 0; k < pending.size(); ++k) {
      b.results[pending[k]] = got.at(k);
      b.attempts[pending[k]] = backoff.attempts();
      if (got[k].status == StoreStatus::kRetryable) again.push_back(pending[k]);
    }
    if (again.empty()) break;
    for (std::size_t i : again) telemetry_.retried(b.results[i].error_code);
    const StoreResult& first = b.results[again.front()];
    log_event(spdlog::level::warn, "store failed, retrying",
              {{"mid", b.unique[again.front()].mid},
               {"messages", static_cast<long long>(again.size())},
               {"attempt", backoff.attempts()},
               {"code", first.error_code},
               {"error", first.error}});
    if (!backoff.wait_before_retry()) break;
    pending = std::move(again);
  }
}

// The other events, in delivery order, each in its own transaction. They run
// after the messages of the batch, so a deletion or edit in the same batch
// finds its message stored.
void IngestService::store_other_events(Batch& b) const {
  for (std::size_t d = 0; d < b.parsed.size(); ++d) {
    if (!b.parsed[d].ok) continue;
    const auto& events = b.parsed[d].delivery.events;
    for (std::size_t e = 0; e < events.size(); ++e) {
      const Event& ev = events[e];
      if (std::holds_alternative<NewMessage>(ev)) continue;
      if (b.unreachable) {
        record(b.outcomes[d], e, ev, *b.unreachable, 1);
        continue;
      }
      Backoff backoff(options_.retry, clock_, {}, stop_);
      StoreResult r;
      for (;;) {
        r = store_.store(ev);
        if (r.status != StoreStatus::kRetryable) break;
        telemetry_.retried(r.error_code);
        log_event(spdlog::level::warn, "store failed, retrying",
                  {{"event", describe(ev)},
                   {"mid", event_mid(ev)},
                   {"attempt", backoff.attempts()},
                   {"code", r.error_code},
                   {"error", r.error}});
        if (!backoff.wait_before_retry()) break;
      }
      if (r.status == StoreStatus::kRetryable && !r.lock_conflict) b.unreachable = r;
      record(b.outcomes[d], e, ev, r, backoff.attempts());
    }
  }
}

}  // namespace hm
