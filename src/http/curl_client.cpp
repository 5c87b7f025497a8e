#include "http/curl_client.h"

#include <curl/curl.h>

#include <memory>

#include "http/destination_guard.h"

namespace hm {
namespace {

struct Transfer {
  BodySink sink;
  std::string* body;
  long long max_bytes;
  CURL* curl = nullptr;
  bool skip_redirect_bodies = false;  // following redirects ourselves: a 3xx body is not the answer
  long long bytes = 0;
  bool too_large = false;
  bool aborted = false;
};

size_t on_data(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->skip_redirect_bodies) {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 300 && status < 400) return n;
  }
  t->bytes += static_cast<long long>(n);
  if (t->max_bytes > 0 && t->bytes > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  if (t->sink) {
    if (!t->sink(data, n)) {
      t->aborted = true;
      return 0;
    }
  } else {
    t->body->append(data, n);
  }
  return n;
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// The URL without its query string: queries can carry tokens or signatures.
std::string safe_url(const std::string& url) { return url.substr(0, url.find('?')); }

// The host of a URL, for messages.
std::string safe_host(const std::string& url) {
  CURLU* u = curl_url();
  char* host = nullptr;
  std::string out = "?";
  if (u && curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host)
    out = host;
  curl_free(host);
  curl_url_cleanup(u);
  return out;
}

// An enforced DestinationPolicy: redirects are followed by the caller, hop by
// hop; only the policy's schemes; no proxy (it would hide the address the
// guard must see); every socket opened through the guard.
void guard_transfer(CURL* c, const HttpCallOptions& o, SocketGuard* guard, curl_slist* resolve) {
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, o.destination.allow_http ? "http,https" : "https");
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // "" = no proxy, whatever http(s)_proxy/ALL_PROXY say
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_guarded_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, guard);
  if (resolve) curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
}

HttpFailure failure_of(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: return HttpFailure::kNotSent;
    case CURLE_OPERATION_TIMEDOUT: return HttpFailure::kTimeout;
    case CURLE_FILESIZE_EXCEEDED: return HttpFailure::kTooLarge;
    case CURLE_TOO_MANY_REDIRECTS: return HttpFailure::kTooManyRedirects;
    default: return HttpFailure::kOther;
  }
}

}  // namespace

CurlHttpClient::CurlHttpClient(CurlClientOptions options) : options_(std::move(options)) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}
CurlHttpClient::~CurlHttpClient() { curl_global_cleanup(); }

HttpResult CurlHttpClient::get(const std::string& url, const HttpCallOptions& options, BodySink sink) {
  return perform(url, nullptr, options, std::move(sink));
}

HttpResult CurlHttpClient::post_json(const std::string& url, const std::string& body, const HttpCallOptions& options) {
  HttpCallOptions o = options;
  o.headers.push_back("Content-Type: application/json");
  return perform(url, &body, o, {});
}

// One request and its answer: the inputs, and what the answer said beyond HttpResult.
struct CurlHttpClient::Hop {
  const std::string& url;
  const std::string* post_body;
  BodySink sink;
  SocketGuard* guard = nullptr;  // the policy is enforced: check addresses, no proxy, no libcurl redirects
  std::string redirect_url;      // filled when the answer was a redirect not followed
};

HttpResult CurlHttpClient::perform(const std::string& url, const std::string* post_body, const HttpCallOptions& o,
                                   BodySink sink) {
  if (o.destination.enforce) return perform_guarded(url, post_body, o, sink);
  Hop hop{url, post_body, std::move(sink), nullptr, {}};
  return perform_hop(hop, o);
}

HttpResult CurlHttpClient::perform_guarded(const std::string& url, const std::string* post_body,
                                           const HttpCallOptions& o, const BodySink& sink) {
  std::string current = url;
  std::string previous_scheme;
  for (int redirects = 0;; ++redirects) {
    std::string scheme;
    if (auto refusal = check_url(current, previous_scheme, o.destination, &scheme)) {
      HttpResult r;
      r.failure = HttpFailure::kRefused;
      r.refusal = refusal->rule;
      r.error = "refused: " + refusal->detail;
      return r;
    }
    SocketGuard guard{o.destination.allow_private_addresses, {}, 0};
    Hop hop{current, post_body, sink, &guard, {}};
    HttpResult r = perform_hop(hop, o);
    if (r.failure != HttpFailure::kNone || hop.redirect_url.empty() || o.max_redirects == 0) return r;
    if (redirects >= o.max_redirects) {
      r.failure = HttpFailure::kTooManyRedirects;
      r.error = "more than " + std::to_string(o.max_redirects) + " redirects";
      return r;
    }
    previous_scheme = scheme;
    current = hop.redirect_url;
  }
}

HttpResult CurlHttpClient::perform_hop(Hop& hop, const HttpCallOptions& o) {
  const std::string& url = hop.url;
  HttpResult r;
  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  if (!curl) {
    r.failure = HttpFailure::kOther;
    r.error = "cannot create a curl handle";
    return r;
  }
  Transfer t{std::move(hop.sink), &r.body, o.max_bytes, curl.get(), hop.guard != nullptr};
  std::unique_ptr<curl_slist, ListDeleter> headers;
  for (const auto& h : o.headers) headers.reset(curl_slist_append(headers.release(), h.c_str()));
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.total_timeout.count()));
  if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  std::unique_ptr<curl_slist, ListDeleter> resolve;
  if (hop.guard) {
    for (const auto& entry : options_.resolve) resolve.reset(curl_slist_append(resolve.release(), entry.c_str()));
    guard_transfer(c, o, hop.guard, resolve.get());
  } else {
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, o.max_redirects > 0 ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(o.max_redirects));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  }
  if (o.max_bytes > 0) curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.max_bytes));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  if (hop.post_body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, hop.post_body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(hop.post_body->size()));
  }
  const CURLcode code = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  char* ct = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) r.content_type = ct;
  char* eff = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff) r.effective_url = safe_url(eff);
  curl_off_t pretransfer = 0;
  curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
  r.request_sent = pretransfer > 0 || r.status > 0;
  r.bytes = t.bytes;
  char* location = nullptr;
  if (hop.guard && r.status >= 300 && r.status < 400 &&
      curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location) == CURLE_OK && location)
    hop.redirect_url = location;
  if (code == CURLE_OK) return r;
  if (code == CURLE_COULDNT_CONNECT && hop.guard && !hop.guard->refused.empty() && hop.guard->allowed == 0) {
    r.failure = HttpFailure::kRefused;
    r.refusal = HttpRefusal::kAddress;
    r.request_sent = false;
    r.error = "refused: host " + safe_host(url) + " resolved to " + hop.guard->refused;
    return r;
  }
  r.failure = failure_of(code);
  if (r.failure == HttpFailure::kNotSent) r.request_sent = false;
  if (t.too_large) r.failure = HttpFailure::kTooLarge;
  r.error = std::string(curl_easy_strerror(code)) + " (" + safe_url(url) + ")";
  return r;
}

}  // namespace hm
