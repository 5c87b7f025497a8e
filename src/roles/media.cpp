#include "roles/media.h"

#include <nlohmann/json.hpp>

#include "ops/logging.h"

namespace hm {
namespace {

using json = nlohmann::json;

// attachment.payload.url, or empty.
std::string url_of(const json& a) {
  if (!a.is_object() || !a.contains("payload") || !a["payload"].is_object()) return {};
  const json url = a["payload"].value("url", json());
  return url.is_string() ? url.get<std::string>() : std::string();
}

// Why an attachment of this type is never downloaded, or nullptr.
const char* never_downloaded(const std::string& type) {
  // Meta's story-mention rules: the media of a story must not be stored or
  // cached; only its CDN URL may be kept.
  if (type == "story_mention") return "story mention: Meta's policy forbids storing its media; the URL is kept";
  if (type == "template") return "template: no media file to download";
  if (type == "fallback") return "fallback (a link or unsupported content): no media file to download";
  return nullptr;
}

// The record of attachment idx before its download: type and URL; skipped
// when its type is never downloaded, failed when there is no URL.
MediaRecord record_of(std::uint64_t message_id, int idx, const json& a) {
  MediaRecord rec;
  rec.message_id = message_id;
  rec.idx = idx;
  rec.type = a.is_object() ? a.value("type", "unknown") : "unknown";
  const std::string url = url_of(a);
  if (const char* why = never_downloaded(rec.type)) {
    rec.status = MediaStatus::kSkipped;
    rec.error = why;
    rec.source_url = url;
  } else if (url.empty()) {
    rec.status = MediaStatus::kFailed;
    rec.error = "attachment has no payload.url";
  } else {
    rec.source_url = url;
  }
  return rec;
}

// A shared post arrives as two attachments, "share" and "ig_post", with the
// same URL: true when an earlier attachment has this one's URL, so one file
// gets one media record.
bool repeats_earlier_url(const json& attachments, std::size_t i) {
  const std::string url = url_of(attachments[i]);
  if (url.empty()) return false;
  for (std::size_t j = 0; j < i; ++j) {
    if (url_of(attachments[j]) == url) return true;
  }
  return false;
}

// The variable that relaxes a refusal's rule, for the media row's reason.
const char* relaxed_by(HttpRefusal rule) {
  switch (rule) {
    case HttpRefusal::kHost: return "MEDIA_ALLOWED_HOSTS";
    case HttpRefusal::kScheme:
    case HttpRefusal::kDowngrade: return "MEDIA_ALLOW_HTTP";
    case HttpRefusal::kAddress: return "MEDIA_ALLOW_PRIVATE_ADDRESSES";
    case HttpRefusal::kUrl:
    case HttpRefusal::kNone: return "";
  }
  return "";
}

}  // namespace

std::vector<std::string> default_media_hosts() { return {"fbsbx.com", "fbcdn.net", "cdninstagram.com"}; }

DeliveryOutcome MediaService::handle_message(const StoredMessage& m) const {
  if (!m.attachments_json) return done(0);
  const json attachments = json::parse(*m.attachments_json, nullptr, false);
  if (!attachments.is_array()) return dead("message " + m.mid + " has attachments that are not a JSON array");
  if (Status s = files_.prepare(); !s.ok()) return later(s.message);
  DeliveryOutcome out = done(0);
  for (std::size_t i = 0; i < attachments.size(); ++i) {
    const int idx = static_cast<int>(i);
    if (repeats_earlier_url(attachments, i)) continue;  // the same file as an earlier attachment
    const auto known = store().media_status(m.id, idx);
    if (!known.ok()) return store_failed(known.status);
    if (known.value) continue;  // stored, or failed for good: nothing to download
    MediaRecord rec = record_of(m.id, idx, attachments[i]);
    if (rec.status != MediaStatus::kSkipped && !rec.source_url.empty()) {
      if (Status s = download(m.mid, rec); !s.ok()) return later(s.message);
    }
    if (Status s = store().save_media(rec); !s.ok()) return store_failed(s);
    if (rec.status == MediaStatus::kStored) ++out.counts.applied;
  }
  return out;
}

Status MediaService::download(const std::string& mid, MediaRecord& rec) const {
  HttpCallOptions call;
  call.connect_timeout = options_.connect_timeout;
  call.total_timeout = options_.timeout;
  call.max_bytes = options_.max_bytes;
  call.max_redirects = options_.max_redirects;
  call.destination = {true, options_.allowed_hosts, options_.allow_http, options_.allow_private_addresses};
  Backoff backoff(options_.retry, clock_, {}, stop_);
  for (;;) {
    Result<MediaFiles::Writer> file = files_.begin();
    if (!file.ok()) return file.status;
    MediaFiles::Writer& writer = file.value;
    const HttpResult r = http_.get(rec.source_url, call, [&writer](const char* data, std::size_t n) {
      return writer.append(data, n);
    });
    if (!writer.error().ok()) return writer.error();
    if (r.ok()) {
      Result<std::string> sha = writer.commit();
      if (!sha.ok()) return sha.status;
      rec.sha256 = sha.value;
      rec.size = r.bytes;
      rec.content_type = r.content_type;
      rec.status = MediaStatus::kStored;
      return Status::Ok();
    }
    writer.discard();
    if (r.failure == HttpFailure::kRefused) {
      const std::string variable = relaxed_by(r.refusal);
      rec.status = MediaStatus::kFailed;
      rec.error = r.error + (variable.empty() ? "" : " (" + variable + ")");
      telemetry_.media_refused(r.refusal);
      log_event(spdlog::level::warn, "attachment refused", {{"mid", mid}, {"idx", rec.idx}, {"error", rec.error}});
      return Status::Ok();
    }
    // Too large, too many redirects, or a 4xx (an expired URL answers 403):
    // downloading again cannot help.
    const bool permanent = r.failure == HttpFailure::kTooLarge || r.failure == HttpFailure::kTooManyRedirects ||
                           (r.failure == HttpFailure::kNone && r.status >= 400 && r.status < 500 && r.status != 429);
    const std::string why = r.failure == HttpFailure::kTooLarge
                                ? "over MEDIA_MAX_BYTES=" + std::to_string(options_.max_bytes)
                                : (r.failure == HttpFailure::kNone ? "HTTP " + std::to_string(r.status) : r.error);
    if (permanent) {
      rec.status = MediaStatus::kFailed;
      rec.error = why;
      log_event(spdlog::level::warn, "attachment not stored", {{"mid", mid}, {"idx", rec.idx}, {"error", why}});
      return Status::Ok();
    }
    if (!backoff.wait_before_retry()) return Status::Retryable("attachment " + std::to_string(rec.idx) + ": " + why);
  }
}

}  // namespace hm
