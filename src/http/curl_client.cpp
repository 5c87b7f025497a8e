#include "http/curl_client.h"

#include <curl/curl.h>

#include <memory>

namespace hm {
namespace {

struct Transfer {
  BodySink sink;
  std::string* body;
  long long max_bytes;
  long long bytes = 0;
  bool too_large = false;
  bool aborted = false;
};

size_t on_data(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
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

}  // namespace

CurlHttpClient::CurlHttpClient() { curl_global_init(CURL_GLOBAL_DEFAULT); }
CurlHttpClient::~CurlHttpClient() { curl_global_cleanup(); }

HttpResult CurlHttpClient::get(const std::string& url, const HttpCallOptions& options, BodySink sink) {
  return perform(url, nullptr, options, std::move(sink));
}

HttpResult CurlHttpClient::post_json(const std::string& url, const std::string& body, const HttpCallOptions& options) {
  HttpCallOptions o = options;
  o.headers.push_back("Content-Type: application/json");
  return perform(url, &body, o, {});
}

HttpResult CurlHttpClient::perform(const std::string& url, const std::string* post_body, const HttpCallOptions& o,
                                   BodySink sink) {
  HttpResult r;
  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  if (!curl) {
    r.failure = HttpFailure::kOther;
    r.error = "cannot create a curl handle";
    return r;
  }
  Transfer t{std::move(sink), &r.body, o.max_bytes};
  std::unique_ptr<curl_slist, ListDeleter> headers;
  for (const auto& h : o.headers) headers.reset(curl_slist_append(headers.release(), h.c_str()));
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, o.max_redirects > 0 ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(o.max_redirects));
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (o.max_bytes > 0) curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.max_bytes));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  if (post_body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post_body->size()));
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
  if (code == CURLE_OK) return r;
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      r.failure = HttpFailure::kNotSent;
      r.request_sent = false;
      break;
    case CURLE_OPERATION_TIMEDOUT:
      r.failure = HttpFailure::kTimeout;
      break;
    case CURLE_FILESIZE_EXCEEDED:
      r.failure = HttpFailure::kTooLarge;
      break;
    case CURLE_TOO_MANY_REDIRECTS:
      r.failure = HttpFailure::kTooManyRedirects;
      break;
    default:
      r.failure = t.too_large ? HttpFailure::kTooLarge : HttpFailure::kOther;
  }
  if (t.too_large) r.failure = HttpFailure::kTooLarge;
  r.error = std::string(curl_easy_strerror(code)) + " (" + safe_url(url) + ")";
  return r;
}

}  // namespace hm
