// The media role and its content-addressed file store on the in-memory store
// and HTTP client: each attachment stored once under its SHA-256, failures for
// good recorded, transient ones left for later, no partial file ever left.
#include "roles/media.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/fake_http_client.h"
#include "support/fake_role_store.h"
#include "support/fakes.h"

namespace hm {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

class MediaLogicTest : public ::testing::Test {
 protected:
  MediaLogicTest() : store_(clock_), http_([this](const test::FakeCall& c) { return answer(c); }) {
    dir_ = "/tmp/hm-media-unit-" + std::to_string(::getpid());
    fs::remove_all(dir_);
  }
  ~MediaLogicTest() override { fs::remove_all(dir_); }

  MediaOptions options() const {
    MediaOptions o;
    o.dir = dir_;
    o.max_bytes = 1000;
    o.retry.max_attempts = 2;
    return o;
  }
  std::uint64_t message(const std::string& mid, const std::vector<std::string>& paths) {
    json a = json::array();
    for (const auto& p : paths) {
      if (p.empty()) {
        a.push_back({{"type", "image"}, {"payload", json::object()}});
      } else {
        a.push_back({{"type", "image"}, {"payload", {{"url", "https://cdn.test" + p + "?sig=secret"}}}});
      }
    }
    return message_with(mid, a);
  }
  std::uint64_t message_with(const std::string& mid, const json& attachments) {
    StoredMessage m;
    m.mid = mid;
    m.account_id = "17841405309211844";
    m.customer_id = "1284930675412097";
    m.attachments_json = attachments.dump();
    m.event_time_ms = clock_.wall_ms();
    return store_.add_message(m);
  }
  static std::string job(const std::string& mid) { return json{{"mid", mid}}.dump(); }
  bool tmp_is_empty() const { return fs::is_empty(dir_ + "/.tmp"); }

  std::function<HttpResult(const test::FakeCall&)> answer = [](const test::FakeCall& c) {
    if (c.url.find("/ok.jpg") != std::string::npos) return test::http_answer(200, std::string(700, 'x'), "image/jpeg");
    if (c.url.find("/expired.jpg") != std::string::npos) return test::http_answer(403, "URL signature expired");
    if (c.url.find("/huge.mp4") != std::string::npos) return test::http_answer(200, std::string(5000, 'v'));
    return test::http_answer(404, "");
  };
  std::string dir_;
  test::FakeClock clock_;
  test::FakeRoleStore store_;
  test::FakeHttpClient http_;
};

TEST_F(MediaLogicTest, StoresContentAddressedOnceAndRecordsFailuresForGood) {
  const auto id = message("m1", {"/ok.jpg", "/expired.jpg", "/huge.mp4", "", "/ok.jpg?copy"});
  MediaService media(store_, http_, options(), clock_, nullptr);
  const auto out = media.handle({job("m1")}).at(0);
  ASSERT_EQ(out.verdict, Verdict::kDone) << out.reason;
  EXPECT_EQ(out.counts.applied, 2);
  const auto ok = store_.media(id, 0);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->record.status, MediaStatus::kStored);
  EXPECT_EQ(ok->record.size, 700);
  EXPECT_EQ(ok->record.content_type, "image/jpeg");
  const std::string& sha = ok->record.sha256;
  const std::string file = dir_ + "/" + sha.substr(0, 2) + "/" + sha;
  ASSERT_TRUE(fs::exists(file));
  EXPECT_EQ(sha256_hex_of_file(file), sha);
  EXPECT_EQ(store_.media(id, 1)->record.status, MediaStatus::kFailed);
  EXPECT_EQ(store_.media(id, 1)->record.error, "HTTP 403");
  EXPECT_EQ(store_.media(id, 2)->record.error, "over MEDIA_MAX_BYTES=1000");
  EXPECT_EQ(store_.media(id, 3)->record.error, "attachment has no payload.url");
  EXPECT_EQ(store_.media(id, 4)->record.sha256, sha);  // the same bytes: one file
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ + "/" + sha.substr(0, 2)), fs::directory_iterator()), 1);
  EXPECT_TRUE(tmp_is_empty());
  EXPECT_EQ(http_.count("GET"), 4);  // not retried: failed for good
  // A second job downloads nothing.
  EXPECT_EQ(media.handle({job("m1")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(http_.count("GET"), 4);
}

TEST_F(MediaLogicTest, TransientFailuresAreRetriedThenLeftForLaterWithNothingRecorded) {
  int gets = 0;
  answer = [&](const test::FakeCall&) {
    ++gets;
    return test::http_failure(HttpFailure::kTimeout, true, "Operation timed out");
  };
  const auto id = message("s1", {"/slow.mp4"});
  MediaService media(store_, http_, options(), clock_, nullptr);
  const auto out = media.handle({job("s1")}).at(0);
  EXPECT_EQ(out.verdict, Verdict::kRetryLater);
  EXPECT_EQ(out.reason, "attachment 0: Operation timed out");
  EXPECT_EQ(gets, 2);
  EXPECT_FALSE(store_.media(id, 0).has_value());  // it will be tried again
  EXPECT_TRUE(tmp_is_empty());
  // A 503 then the bytes: stored on the retry.
  gets = 0;
  answer = [&](const test::FakeCall&) {
    return ++gets == 1 ? test::http_answer(503, "busy") : test::http_answer(200, "bytes", "video/mp4");
  };
  EXPECT_EQ(media.handle({job("s1")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(gets, 2);
  EXPECT_EQ(store_.media(id, 0)->record.status, MediaStatus::kStored);
}

TEST_F(MediaLogicTest, StoreFailuresAreRetriedOrDeadLetteredByCategory) {
  const auto id = message("f1", {"/ok.jpg"});
  MediaService media(store_, http_, options(), clock_, nullptr);
  store_.fail_next("save_media", Status::Retryable("Lock wait timeout exceeded", 1205));
  auto out = media.handle({job("f1")}).at(0);
  EXPECT_EQ(out.verdict, Verdict::kRetryLater);
  EXPECT_EQ(out.reason, "Lock wait timeout exceeded");
  EXPECT_EQ(media.handle({job("f1")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(store_.media(id, 0)->record.status, MediaStatus::kStored);
  EXPECT_EQ(http_.count("GET"), 2);  // downloaded again: the file was already there
  store_.fail_next("media_status", Status::Permanent("Unknown column", 1054));
  out = media.handle({job("f1")}).at(0);
  EXPECT_EQ(out.verdict, Verdict::kDeadLetter);
  EXPECT_EQ(out.reason, "cannot be stored: Unknown column");
}

TEST_F(MediaLogicTest, MessagesWithoutAttachmentsOrWithBadOnes) {
  StoredMessage plain;
  plain.mid = "t1";
  plain.account_id = "17841405309211844";
  plain.customer_id = "1284930675412097";
  store_.add_message(plain);
  StoredMessage bad = plain;
  bad.mid = "t2";
  bad.attachments_json = R"({"not": "an array"})";
  store_.add_message(bad);
  MediaService media(store_, http_, options(), clock_, nullptr);
  const auto out = media.handle({job("t1"), job("t2")});
  EXPECT_EQ(out[0].verdict, Verdict::kDone);
  EXPECT_EQ(out[0].counts.applied, 0);
  EXPECT_EQ(out[1].verdict, Verdict::kDeadLetter);
  EXPECT_EQ(out[1].reason, "message t2 has attachments that are not a JSON array");
}

TEST_F(MediaLogicTest, AnUnusableMediaDirIsLeftForLater) {
  std::ofstream(dir_) << "a file where the directory should be";
  message("d1", {"/ok.jpg"});
  MediaService media(store_, http_, options(), clock_, nullptr);
  const auto out = media.handle({job("d1")}).at(0);
  EXPECT_EQ(out.verdict, Verdict::kRetryLater);
  EXPECT_EQ(out.reason.rfind("MEDIA_DIR: cannot create " + dir_ + "/.tmp: ", 0), 0u) << out.reason;
  fs::remove(dir_);
}

// Counts what the media role reports.
class RefusalCounter final : public Telemetry {
 public:
  void media_refused(HttpRefusal rule) override { rules.push_back(to_string(rule)); }
  std::vector<std::string> rules;
};

TEST_F(MediaLogicTest, EveryDownloadCarriesTheDestinationRulesStrictByDefault) {
  message("p1", {"/ok.jpg"});
  MediaService media(store_, http_, options(), clock_, nullptr);
  ASSERT_EQ(media.handle({job("p1")}).at(0).verdict, Verdict::kDone);
  const auto calls = http_.calls();  // a copy: a reference into the temporary would dangle
  ASSERT_EQ(calls.size(), 1u);
  const DestinationPolicy& d = calls[0].options.destination;
  EXPECT_TRUE(d.enforce);
  EXPECT_EQ(d.allowed_hosts, (std::vector<std::string>{"fbsbx.com", "fbcdn.net", "cdninstagram.com"}));
  EXPECT_FALSE(d.allow_http);
  EXPECT_FALSE(d.allow_private_addresses);
}

TEST_F(MediaLogicTest, ARefusedDownloadIsAFailedRowNeverRetriedAndCounted) {
  answer = [](const test::FakeCall&) {
    HttpResult r;
    r.failure = HttpFailure::kRefused;
    r.refusal = HttpRefusal::kAddress;
    r.error = "refused: host cdn.test resolved to 127.0.0.1 (loopback)";
    return r;
  };
  const auto id = message("r1", {"/ok.jpg", "/ok.jpg?b"});  // two URLs: one of them would be one record
  RefusalCounter telemetry;
  MediaService media(store_, http_, options(), clock_, nullptr, &telemetry);
  const auto out = media.handle({job("r1")}).at(0);
  ASSERT_EQ(out.verdict, Verdict::kDone) << out.reason;  // not a retry, not a dead letter
  EXPECT_EQ(out.counts.applied, 0);
  EXPECT_EQ(http_.calls().size(), 2u);  // one call per attachment: no retry
  ASSERT_TRUE(store_.media(id, 0).has_value());
  EXPECT_EQ(store_.media(id, 0)->record.status, MediaStatus::kFailed);
  EXPECT_EQ(store_.media(id, 0)->record.error,
            "refused: host cdn.test resolved to 127.0.0.1 (loopback) (MEDIA_ALLOW_PRIVATE_ADDRESSES)");
  EXPECT_EQ(telemetry.rules, (std::vector<std::string>{"address", "address"}));
  EXPECT_TRUE(tmp_is_empty());
  // Failed for good: the same job again downloads nothing.
  EXPECT_EQ(media.handle({job("r1")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(http_.calls().size(), 2u);
}

TEST(MediaFilesTest, AWriterNotCommittedLeavesNoFile) {
  const std::string dir = "/tmp/hm-media-files-" + std::to_string(::getpid());
  fs::remove_all(dir);
  MediaFiles files(dir);
  ASSERT_TRUE(files.prepare().ok());
  {
    auto w = files.begin();
    ASSERT_TRUE(w.ok()) << w.status.message;
    ASSERT_TRUE(w.value.append("partial", 7));
  }  // dropped
  auto w = files.begin();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.value.append("abc", 3));
  const auto sha = w.value.commit();
  ASSERT_TRUE(sha.ok()) << sha.status.message;
  // SHA-256("abc")
  EXPECT_EQ(sha.value, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(fs::exists(dir + "/ba/" + sha.value));
  EXPECT_TRUE(fs::is_empty(dir + "/.tmp"));
  fs::remove_all(dir);
}

// Meta: "You must not store/cache the media content" of a story mention. The
// media role used to download it like any image.
TEST_F(MediaLogicTest, StoryMentionMediaIsNeverDownloadedOnlyItsUrlKept) {
  const std::string url = "https://cdn.test/ok.jpg?story=1";
  const auto id = message_with("st1", json::array({{{"type", "story_mention"}, {"payload", {{"url", url}}}}}));
  MediaService media(store_, http_, options(), clock_, nullptr);
  const auto out = media.handle({job("st1")}).at(0);
  ASSERT_EQ(out.verdict, Verdict::kDone) << out.reason;
  EXPECT_EQ(out.counts.applied, 0);
  EXPECT_EQ(http_.count("GET"), 0);
  const auto rec = store_.media(id, 0);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->record.status, MediaStatus::kSkipped);
  EXPECT_EQ(rec->record.source_url, url);
  EXPECT_TRUE(rec->record.sha256.empty());
  EXPECT_NE(rec->record.error.find("story mention"), std::string::npos) << rec->record.error;
  // A later job leaves it alone.
  EXPECT_EQ(media.handle({job("st1")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(http_.count("GET"), 0);
}

// Templates and fallbacks have no media file: not "failed downloads" (they
// used to be recorded failed with "attachment has no payload.url").
TEST_F(MediaLogicTest, TemplateAndFallbackAreSkippedNotFailed) {
  const json a = json::array({
      {{"type", "template"}, {"payload", {{"generic", {{"elements", json::array()}}}}}},
      {{"type", "fallback"}, {"payload", {{"title", "a link"}}}},
      {{"type", "fallback"}, {"payload", {{"url", "https://cdn.test/page.html"}, {"title", "a link"}}}},
  });
  const auto id = message_with("t1", a);
  MediaService media(store_, http_, options(), clock_, nullptr);
  ASSERT_EQ(media.handle({job("t1")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(http_.count("GET"), 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_.media(id, i).has_value()) << i;
    EXPECT_EQ(store_.media(id, i)->record.status, MediaStatus::kSkipped) << i;
    EXPECT_EQ(store_.media(id, i)->record.error.find("no payload.url"), std::string::npos) << i;
  }
  EXPECT_EQ(store_.media(id, 2)->record.source_url, "https://cdn.test/page.html");
}

// A shared post arrives as "share" and "ig_post" with the same URL: one
// download, one media row (there used to be two of each).
TEST_F(MediaLogicTest, SharedPostAsTwoAttachmentsGivesOneDownloadAndOneRecord) {
  const std::string url = "https://cdn.test/ok.jpg?asset=18055512345678901";
  const json a = json::array({
      {{"type", "share"}, {"payload", {{"url", url}}}},
      {{"type", "ig_post"}, {"payload", {{"ig_post_media_id", "18055512345678901"}, {"title", "x"}, {"url", url}}}},
  });
  const auto id = message_with("sh1", a);
  MediaService media(store_, http_, options(), clock_, nullptr);
  const auto out = media.handle({job("sh1")}).at(0);
  ASSERT_EQ(out.verdict, Verdict::kDone) << out.reason;
  EXPECT_EQ(out.counts.applied, 1);
  EXPECT_EQ(http_.count("GET"), 1);
  ASSERT_TRUE(store_.media(id, 0).has_value());
  EXPECT_EQ(store_.media(id, 0)->record.status, MediaStatus::kStored);
  EXPECT_EQ(store_.media(id, 0)->record.type, "share");
  EXPECT_FALSE(store_.media(id, 1).has_value());
  EXPECT_EQ(media.handle({job("sh1")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(http_.count("GET"), 1);
}

}  // namespace
}  // namespace hm
