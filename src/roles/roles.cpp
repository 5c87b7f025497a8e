#include "roles/roles.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include <nlohmann/json.hpp>

#include "hm/db_error.h"
#include "ops/logging.h"
#include "core/retry.h"

namespace hm {
namespace {

using json = nlohmann::json;

constexpr long long kReplyWindowMs = 24LL * 3600 * 1000;

DeliveryOutcome dead(std::string reason) {
  DeliveryOutcome o;
  o.verdict = Verdict::kDeadLetter;
  o.reason = std::move(reason);
  return o;
}

DeliveryOutcome later(std::string reason) {
  DeliveryOutcome o;
  o.verdict = Verdict::kRetryLater;
  o.reason = std::move(reason);
  return o;
}

DeliveryOutcome done(long long applied = 1) {
  DeliveryOutcome o;
  o.counts.applied = applied;
  return o;
}

// Database failures of a job: retry later, or dead-letter for bad data.
DeliveryOutcome from_db_error(const DbError& e) {
  return e.retryable() ? later(e.what()) : dead(std::string("cannot be stored: ") + e.what());
}

template <class Fn>
std::vector<DeliveryOutcome> each(const std::vector<std::string_view>& payloads, Fn&& fn) {
  std::vector<DeliveryOutcome> out;
  out.reserve(payloads.size());
  for (auto p : payloads) {
    try {
      out.push_back(fn(p));
    } catch (const DbError& e) {
      out.push_back(from_db_error(e));
    } catch (const std::exception& e) {
      out.push_back(later(std::string("unexpected: ") + e.what()));
    }
  }
  return out;
}

struct Sha256 {
  Sha256() : ctx(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr); }
  void update(const char* data, std::size_t n) { EVP_DigestUpdate(ctx.get(), data, n); }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), digest, &len);
    static const char* hexdigits = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out.push_back(hexdigits[digest[i] >> 4]);
      out.push_back(hexdigits[digest[i] & 15]);
    }
    return out;
  }
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx;
};

// An open file descriptor, closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

bool fsync_dir(const std::string& dir) {
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  return d.fd >= 0 && ::fsync(d.fd) == 0;
}

}  // namespace

bool parse_job(std::string_view payload, std::string* mid, std::string* error) {
  const json j = json::parse(payload.begin(), payload.end(), nullptr, false);
  if (!j.is_object() || !j.contains("mid") || !j["mid"].is_string() || j["mid"].get<std::string>().empty()) {
    *error = "bad job: expected {\"mid\": \"...\"}";
    return false;
  }
  *mid = j["mid"].get<std::string>();
  return true;
}

std::string sha256_hex_of_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Sha256 h;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) h.update(buf, static_cast<std::size_t>(in.gcount()));
  return h.hex();
}

// ---------------------------------------------------------------- enrich

std::vector<DeliveryOutcome> EnrichService::handle(const std::vector<std::string_view>& payloads) const {
  return each(payloads, [&](std::string_view p) { return one(p); });
}

DeliveryOutcome EnrichService::one(std::string_view payload) const {
  std::string mid, error;
  if (!parse_job(payload, &mid, &error)) return dead(error);
  const auto m = store_.find_message(mid);
  if (!m) return dead("message " + mid + " is not stored");
  store_.upsert_contact(m->account_id, m->customer_id, m->event_time_ms);
  store_.upsert_conversation(m->account_id, m->customer_id);
  if (!graph_ || m->direction != "inbound") return done();
  if (!store_.claim_profile_fetch(m->account_id, m->customer_id, profile_ttl_)) return done();
  const ProfileResult r = graph_->fetch_profile(m->customer_id);
  switch (r.outcome) {
    case GraphOutcome::kOk:
      store_.save_profile(m->account_id, m->customer_id, r.profile);
      return done();
    case GraphOutcome::kPermanent:
      // Recorded on the contact, tried again after the TTL; never a crash.
      store_.save_profile_error(m->account_id, m->customer_id, r.error, true);
      log_event(spdlog::level::warn, "profile fetch failed for good",
                {{"mid", mid}, {"igsid", m->customer_id}, {"error", r.error}});
      return done();
    default:
      store_.save_profile_error(m->account_id, m->customer_id, r.error, false);
      return later("profile fetch: " + r.error);
  }
}

// ---------------------------------------------------------------- media

std::vector<DeliveryOutcome> MediaService::handle(const std::vector<std::string_view>& payloads) const {
  return each(payloads, [&](std::string_view p) { return one(p); });
}

DeliveryOutcome MediaService::one(std::string_view payload) const {
  std::string mid, error;
  if (!parse_job(payload, &mid, &error)) return dead(error);
  const auto m = store_.find_message(mid);
  if (!m) return dead("message " + mid + " is not stored");
  if (!m->attachments_json) return done(0);
  const json attachments = json::parse(*m->attachments_json, nullptr, false);
  if (!attachments.is_array()) return dead("message " + mid + " has attachments that are not a JSON array");
  const std::string tmp_dir = options_.dir + "/.tmp";
  std::error_code ec;
  std::filesystem::create_directories(tmp_dir, ec);
  if (ec) return later("MEDIA_DIR: cannot create " + tmp_dir + ": " + ec.message());
  thread_local std::mt19937_64 rng{std::random_device{}()};
  DeliveryOutcome out = done(0);
  for (std::size_t i = 0; i < attachments.size(); ++i) {
    const int idx = static_cast<int>(i);
    if (store_.media_status(m->id, idx)) continue;  // stored, or failed for good: nothing to download
    const json& a = attachments[i];
    MediaRecord rec;
    rec.message_id = m->id;
    rec.idx = idx;
    rec.type = a.is_object() ? a.value("type", "unknown") : "unknown";
    const json url = a.is_object() && a.contains("payload") && a["payload"].is_object() ? a["payload"].value("url", json())
                                                                                          : json();
    if (!url.is_string() || url.get<std::string>().empty()) {
      rec.status = "failed";
      rec.error = "attachment has no payload.url";
      store_.save_media(rec);
      continue;
    }
    rec.source_url = url.get<std::string>();
    HttpCallOptions call;
    call.connect_timeout = options_.connect_timeout;
    call.total_timeout = options_.timeout;
    call.max_bytes = options_.max_bytes;
    call.max_redirects = options_.max_redirects;
    Backoff backoff(options_.retry, clock_, {}, stop_);
    for (;;) {
      char name[32];
      std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(rng()));
      const std::string tmp = tmp_dir + "/" + name;
      Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640)};
      if (f.fd < 0) return later("MEDIA_DIR: cannot create " + tmp + ": " + std::strerror(errno));
      Sha256 hash;
      bool write_failed = false;
      const HttpResult r = http_.get(rec.source_url, call, [&](const char* data, std::size_t n) {
        hash.update(data, n);
        std::size_t written = 0;
        while (written < n) {
          const ssize_t w = ::write(f.fd, data + written, n - written);
          if (w <= 0) {
            write_failed = true;
            return false;
          }
          written += static_cast<std::size_t>(w);
        }
        return true;
      });
      if (write_failed) {
        ::unlink(tmp.c_str());
        return later("MEDIA_DIR: cannot write " + tmp + ": " + std::strerror(errno));
      }
      if (r.ok()) {
        rec.sha256 = hash.hex();
        rec.size = r.bytes;
        rec.content_type = r.content_type;
        const std::string dir = options_.dir + "/" + rec.sha256.substr(0, 2);
        const std::string final_path = dir + "/" + rec.sha256;
        std::filesystem::create_directories(dir, ec);
        if (::fsync(f.fd) != 0 || ec) {
          ::unlink(tmp.c_str());
          return later("MEDIA_DIR: cannot store " + final_path);
        }
        if (std::filesystem::exists(final_path)) {
          ::unlink(tmp.c_str());  // the same bytes are stored already
        } else if (::rename(tmp.c_str(), final_path.c_str()) != 0 || !fsync_dir(dir)) {
          ::unlink(tmp.c_str());
          return later("MEDIA_DIR: cannot rename into " + final_path + ": " + std::strerror(errno));
        }
        rec.status = "stored";
        store_.save_media(rec);
        ++out.counts.applied;
        break;
      }
      ::unlink(tmp.c_str());
      // Too large, too many redirects, or a 4xx (an expired URL answers 403):
      // downloading again cannot help.
      const bool permanent = r.failure == HttpFailure::kTooLarge || r.failure == HttpFailure::kTooManyRedirects ||
                             (r.failure == HttpFailure::kNone && r.status >= 400 && r.status < 500 && r.status != 429);
      const std::string why = r.failure == HttpFailure::kTooLarge
                                  ? "over MEDIA_MAX_BYTES=" + std::to_string(options_.max_bytes)
                                  : (r.failure == HttpFailure::kNone ? "HTTP " + std::to_string(r.status) : r.error);
      if (permanent) {
        rec.status = "failed";
        rec.error = why;
        store_.save_media(rec);
        log_event(spdlog::level::warn, "attachment not stored", {{"mid", mid}, {"idx", idx}, {"error", why}});
        break;
      }
      if (!backoff.wait_before_retry()) return later("attachment " + std::to_string(idx) + ": " + why);
    }
  }
  return out;
}

// ---------------------------------------------------------------- reply

std::vector<DeliveryOutcome> ReplyService::handle(const std::vector<std::string_view>& payloads) const {
  return each(payloads, [&](std::string_view p) { return one(p); });
}

DeliveryOutcome ReplyService::one(std::string_view payload) const {
  std::string mid, error;
  if (!parse_job(payload, &mid, &error)) return dead(error);
  const auto m = store_.find_message(mid);
  if (!m) return dead("message " + mid + " is not stored");
  DeliveryOutcome nothing = done(0);
  if (m->direction != "inbound" || m->is_deleted) return nothing;
  const long long now = clock_.wall_ms();
  const auto last = store_.last_inbound_ms(m->account_id, m->customer_id);
  if (!last || now - *last > kReplyWindowMs) {
    log_event(spdlog::level::info, "no reply: outside the 24-hour window", {{"mid", mid}});
    return nothing;
  }
  const auto decision = rules_.match(m->account_id, m->text.value_or(""), now);
  if (!decision) return nothing;
  store_.reserve_reply(m->id, m->account_id, m->customer_id, decision->rule, decision->text);
  // Only the holder of the reservation in `reserved` may send: whoever finds it
  // sending, sent, failed or unknown does nothing (at most once).
  if (!store_.claim_reply_send(m->id)) return nothing;
  // Deleted while we were deciding? Then do not send.
  const auto fresh = store_.find_message(mid);
  if (!fresh || fresh->is_deleted) {
    store_.finish_reply(m->id, "failed", "", "message deleted before the reply was sent");
    return nothing;
  }
  const SendResult r = graph_.send_text(m->account_id, m->customer_id, decision->text);
  switch (r.outcome) {
    case GraphOutcome::kOk:
      store_.finish_reply(m->id, "sent", r.message_id, "");
      log_event(spdlog::level::info, "reply sent", {{"mid", mid}, {"rule", decision->rule}, {"attempts", r.attempts}});
      return done();
    case GraphOutcome::kUnknown:
      store_.finish_reply(m->id, "unknown", "", r.error);
      log_event(spdlog::level::warn, "reply outcome unknown; not sent again", {{"mid", mid}, {"error", r.error}});
      return nothing;
    default:
      store_.finish_reply(m->id, "failed", "", r.error);
      log_event(spdlog::level::warn, "reply failed", {{"mid", mid}, {"attempts", r.attempts}, {"error", r.error}});
      return nothing;
  }
}

}  // namespace hm
