#pragma once
// The media role: downloads each attachment of a message (the URLs expire
// soon after the message) into the content-addressed MediaFiles store under
// MediaOptions::dir, and records a media row per attachment. An attachment
// already stored (or failed or skipped for good) is not downloaded again.
// Platform rules: story_mention media is never downloaded (Meta forbids
// storing or caching it; the row is 'skipped' and keeps only the URL), nor
// template or fallback attachments (no media file); a story a message
// replies to (reply_to.story) is only a URL on the message. An attachment
// with the URL of an earlier one (a shared post: "share" and "ig_post") gets
// no row of its own.
// Thread-safe: the store, the HTTP client and MediaFiles are.

#include <chrono>
#include <string>
#include <vector>

#include "core/retry.h"
#include "hm/clock.h"
#include "hm/http_client.h"
#include "hm/stop_signal.h"
#include "hm/telemetry.h"
#include "roles/job_handler.h"
#include "roles/media_files.h"

namespace hm {

// "fbsbx.com", "fbcdn.net", "cdninstagram.com": where Instagram messaging
// attachment URLs point (lookaside.fbsbx.com/ig_messaging_cdn/..., scontent-*.xx.fbcdn.net,
// *.cdninstagram.com).
std::vector<std::string> default_media_hosts();

struct MediaOptions {
  std::string dir = "/var/lib/hm-worker/media";        // MEDIA_DIR: root of the content-addressed store
  long long max_bytes = 25LL * 1024 * 1024;            // larger attachments fail for good; 0 = no limit
  std::chrono::milliseconds connect_timeout{5000};     // per download
  std::chrono::milliseconds timeout{60000};            // total time per download
  int max_redirects = 5;                               // 0 = do not follow redirects
  // Where attachments may be downloaded from (the URLs come from outside; see
  // DestinationPolicy): MEDIA_ALLOWED_HOSTS, normalized host suffixes (an IP
  // address only exactly); the Instagram/Meta CDN domains by default.
  std::vector<std::string> allowed_hosts = default_media_hosts();
  bool allow_http = false;               // MEDIA_ALLOW_HTTP: http as well as https (and https->http redirects)
  bool allow_private_addresses = false;  // MEDIA_ALLOW_PRIVATE_ADDRESSES: loopback, private, link-local... too
  // Retries of 5xx, 429 and network failures: as the Graph API's by default
  // (GRAPH_RETRY_ATTEMPTS tries, waits from 200 ms, at most 5 s each, 30 s in all).
  RetryOptions retry = http_retry_defaults();
};

class MediaService final : public JobHandler {
 public:
  // `stop`, when given and requested, ends the retries of a download at once.
  // A download the destination rules refuse is a failed media row (the reason
  // names the host and the rule), never retried; `telemetry` counts it.
  MediaService(RoleStore& store, HttpClient& http, MediaOptions options, Clock& clock, const StopSignal* stop,
               Telemetry* telemetry = nullptr)
      : JobHandler(store), http_(http), options_(std::move(options)), files_(options_.dir), clock_(clock), stop_(stop),
        telemetry_(telemetry ? *telemetry : no_telemetry()) {}

 private:
  DeliveryOutcome handle_message(const StoredMessage& m) const override;
  // Downloads rec.source_url into the store, with retries; fills rec as
  // stored, or as failed for good. A failure that waiting may fix is returned.
  Status download(const std::string& mid, MediaRecord& rec) const;

  HttpClient& http_;
  MediaOptions options_;
  MediaFiles files_;
  Clock& clock_;
  const StopSignal* stop_;
  Telemetry& telemetry_;
};

}  // namespace hm
