// The seed's ingest path against a real MariaDB.
#include "mysql/message_steps.h"
#include "mysql/message_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <map>
#include <random>
#include <thread>

#include "ingest/ingest_service.h"
#include "ingest/payload.h"
#include "support/fakes.h"
#include "support/test_db.h"

namespace hm::mysql {
namespace {

using namespace std::chrono_literals;

NewMessage message(const std::string& mid, std::optional<std::string> text = "hello") {
  NewMessage m;
  m.mid = mid;
  m.account_id = "17841405309211844";
  m.sender_id = "1284930675412097";
  m.recipient_id = "17841405309211844";
  m.text = std::move(text);
  m.timestamp_ms = 1768396566941;
  return m;
}

class MessageStoreTest : public ::testing::Test {
 protected:
  SessionPool& pool(int size = 8, int overflow = 0, DbOptions* custom = nullptr) {
    PoolOptions o;
    o.size = size;
    o.max_overflow = overflow;
    o.timeout = 30s;
    DbOptions opts = custom ? *custom : db_.options();
    pool_ = std::make_unique<SessionPool>(o, [opts] { return Session::connect(test::driver(), opts); }, clock_);
    return *pool_;
  }
  // text, edit_count and is_deleted of the message `mid`.
  std::vector<std::optional<std::string>> state(const std::string& mid) {
    return db_.query("SELECT text, edit_count, is_deleted FROM message WHERE ig_message_id = '" + mid + "'").at(0);
  }
  // Records an edit of `m` in the side table only, as if it was never applied.
  void record_unapplied_edit(const NewMessage& m, int num_edit, const std::string& text) {
    db_.execute("INSERT INTO message_edit (ig_message_id, num_edit, account_id, sender_id, text, edited_at) VALUES ('" +
                m.mid + "', " + std::to_string(num_edit) + ", '" + m.account_id + "', '" + m.sender_id + "', '" + text +
                "', NOW(3))");
  }
  long long rows(const std::string& where = "1") {
    return db_.scalar("SELECT COUNT(*) FROM message WHERE " + where);
  }
  // One migrated database for the suite, emptied before each test.
  static void SetUpTestSuite() { suite_db_.open(); }
  static void TearDownTestSuite() { suite_db_.close(); }
  static inline test::SuiteDatabase suite_db_{"store"};
  test::TestDatabase& db_ = suite_db_.emptied();
  SystemClock clock_;
  std::unique_ptr<SessionPool> pool_;
};

TEST_F(MessageStoreTest, InsertedThenDuplicate) {
  MysqlMessageStore store(pool());
  const auto first = store.store(message("mid-1"));
  ASSERT_EQ(first.status, StoreStatus::kInserted) << first.error;
  EXPECT_GT(first.message_id, 0u);
  const auto second = store.store(message("mid-1"));
  EXPECT_EQ(second.status, StoreStatus::kDuplicate);
  EXPECT_EQ(second.message_id, first.message_id);  // found by the fast path
  const auto other = store.store(message("mid-2"));
  EXPECT_EQ(other.status, StoreStatus::kInserted);
  EXPECT_NE(other.message_id, first.message_id);
  EXPECT_EQ(rows(), 2);
}

TEST_F(MessageStoreTest, EightThreadsSameMidsOneRowAndOneInsertEach) {
  auto& p = pool(8);
  MysqlMessageStore store(p);
  constexpr int kMids = 150;
  constexpr int kThreads = 8;
  std::vector<std::string> mids;
  for (int i = 0; i < kMids; ++i) mids.push_back("race-" + std::to_string(i));
  std::vector<std::atomic<int>> inserts(kMids);
  std::atomic<int> failures{0};
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Driver::ThreadScope scope(test::driver());
      std::vector<int> order(kMids);
      for (int i = 0; i < kMids; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), std::mt19937(t));
      start.arrive_and_wait();
      for (int i : order) {
        StoreResult r;
        for (int attempt = 0; attempt < 10; ++attempt) {
          r = store.store(message(mids[i]));
          if (r.status != StoreStatus::kRetryable) break;
        }
        if (r.status == StoreStatus::kInserted) {
          ++inserts[i];
        } else if (r.status != StoreStatus::kDuplicate) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < kMids; ++i) EXPECT_EQ(inserts[i].load(), 1) << mids[i];
  EXPECT_EQ(rows(), kMids);
  // The stored mids are exactly the ones sent (a COUNT(DISTINCT) under the
  // UNIQUE key could not say otherwise).
  std::vector<std::string> stored;
  for (const auto& row : db_.query("SELECT ig_message_id, text FROM message ORDER BY ig_message_id")) {
    stored.push_back(row.at(0).value_or(""));
    EXPECT_EQ(row.at(1).value_or(""), "hello") << stored.back();
  }
  std::sort(mids.begin(), mids.end());
  EXPECT_EQ(stored, mids);
}

TEST_F(MessageStoreTest, MidsDifferingOnlyInCaseAreTwoRows) {
  MysqlMessageStore store(pool());
  EXPECT_EQ(store.store(message("aWdfZAG1faXRlbToxOk")).status, StoreStatus::kInserted);
  EXPECT_EQ(store.store(message("AWDFzag1FAxrLBTOXoK")).status, StoreStatus::kInserted);
  EXPECT_EQ(store.store(message("awdfzag1faxrlbtoxok")).status, StoreStatus::kInserted);
  EXPECT_EQ(store.store(message("aWdfZAG1faXRlbToxOk")).status, StoreStatus::kDuplicate);
  EXPECT_EQ(rows(), 3);
}

TEST_F(MessageStoreTest, EmojiTurkishArabicComeBackByteForByte) {
  MysqlMessageStore store(pool());
  const std::vector<std::string> texts = {
      "Merhaba! Yarın akşam 19:30 için 2 kişilik masa ayırtabilir miyim? Şöyle cam kenarı olursa süper olur 🙏☕",
      "وعليكم السلام 🌸 نعم، طلبك جاهز ويمكنك استلامه حتى الساعة ١٠ مساءً.",
      "İĞÜŞÖÇ ığüşöç 👍🏽 🇹🇷 👨‍👩‍👧‍👦",
      std::string("NUL\0inside", 10),
      "'; DROP TABLE message; -- \\ \" `"};
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto r = store.store(message("text-" + std::to_string(i), texts[i]));
    ASSERT_EQ(r.status, StoreStatus::kInserted) << r.error;
  }
  auto s = db_.connect();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto got = s->query("SELECT text FROM message WHERE ig_message_id = 'text-" + std::to_string(i) + "'");
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0][0].value_or("<null>"), texts[i]) << i;
  }
}

// The batch path sends its rows and mids as escaped literals (the text
// protocol): quotes, backslashes, NUL bytes, SQL and emoji come back byte for
// byte, in texts and in mids; a missing text is NULL, not 'NULL'; a redelivery
// of the batch finds every row by its exact mid; a bad row in a batch fails
// alone.
TEST_F(MessageStoreTest, HostileValuesThroughTheBatchPathComeBackByteForByte) {
  MysqlMessageStore store(pool());
  const std::vector<std::string> values = {
      "'; DROP TABLE message; -- \\ \" `",
      std::string("NUL\0inside\x1a\r\n", 13),
      "\\'", "\\", "'", "İĞÜŞÖÇ 👍🏽 🇹🇷 👨‍👩‍👧‍👦 وعليكم", "%_\\%", "NULL"};
  std::vector<NewMessage> batch;
  for (std::size_t i = 0; i < values.size(); ++i) {
    // mids are printable ASCII: quotes and backslashes included.
    batch.push_back(message("b'\\\"" + std::to_string(i) + "`", values[i]));
  }
  batch.push_back(message("b-no-text", std::nullopt));
  {
    // The batch statements themselves, without the store's fallback to one
    // message at a time (which would hide broken escaping): any error throws.
    auto session = db_.connect();
    const auto direct = store_batch(*session, batch);
    for (const auto& r : direct) ASSERT_EQ(r.status, StoreStatus::kInserted) << r.error;
    db_.execute("TRUNCATE message");
  }
  const auto first = store.store_messages(batch, 100);
  ASSERT_EQ(first.size(), batch.size());
  for (const auto& r : first) ASSERT_EQ(r.status, StoreStatus::kInserted) << r.error;
  auto s = db_.connect();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto got = s->query("SELECT text, id FROM message WHERE ig_message_id = ?", {batch[i].mid});
    ASSERT_EQ(got.size(), 1u) << i;
    EXPECT_EQ(got[0][0].value_or("<null>"), values[i]) << i;
    EXPECT_EQ(got[0][1].value_or(""), std::to_string(first[i].message_id)) << i;
  }
  EXPECT_FALSE(s->query("SELECT text FROM message WHERE ig_message_id = 'b-no-text'").at(0).at(0).has_value());
  const auto again = store.store_messages(batch, 100);
  for (std::size_t i = 0; i < again.size(); ++i) {
    EXPECT_EQ(again[i].status, StoreStatus::kDuplicate) << i;
    EXPECT_EQ(again[i].message_id, first[i].message_id) << i;
  }
  EXPECT_EQ(rows(), static_cast<long long>(batch.size()));
  // The per-message path of a read (text check, each message its own
  // prepared insert, text read-back; no fallback there): same values, new mids.
  std::vector<NewMessage> each;
  for (const auto& m : batch) each.push_back(message("e" + m.mid, m.text));
  const auto one_by_one = store.store_messages(each, 1);
  for (std::size_t i = 0; i < one_by_one.size(); ++i) {
    ASSERT_EQ(one_by_one[i].status, StoreStatus::kInserted) << i << one_by_one[i].error;
    const auto got = s->query("SELECT text, id FROM message WHERE ig_message_id = ?", {each[i].mid});
    ASSERT_EQ(got.size(), 1u) << i;
    EXPECT_EQ(got[0][0], each[i].text) << i;
    EXPECT_EQ(got[0][1].value_or(""), std::to_string(one_by_one[i].message_id)) << i;
  }
  for (const auto& r : store.store_messages(each, 1)) EXPECT_EQ(r.status, StoreStatus::kDuplicate) << r.error;
  // A row a warning shows altered fails alone; the rest of its batch is stored.
  const auto mixed = store.store_messages(
      {message("b-fine-1"), message("b-bad-utf8", std::string("caf\xc3", 4)), message("b-fine-2")}, 100);
  EXPECT_EQ(mixed.at(0).status, StoreStatus::kInserted) << mixed[0].error;
  EXPECT_EQ(mixed.at(1).status, StoreStatus::kPermanent);
  EXPECT_EQ(mixed.at(1).error_code, 1366) << mixed[1].error;
  EXPECT_EQ(mixed.at(2).status, StoreStatus::kInserted) << mixed[2].error;
}

TEST_F(MessageStoreTest, AnyWarningOtherThanDuplicateIsAFailureAndNothingIsStored) {
  MysqlMessageStore store(pool());
  // Too long for TEXT: INSERT IGNORE would truncate it and warn.
  const auto longer = store.store(message("too-long", std::string(70000, 'x')));
  EXPECT_EQ(longer.status, StoreStatus::kPermanent);
  EXPECT_NE(longer.error.find("warning"), std::string::npos) << longer.error;
  // Invalid UTF-8 that reached the store: INSERT IGNORE would replace it and warn.
  const auto bad_utf8 = store.store(message("bad-utf8", std::string("caf\xc3", 4)));
  EXPECT_EQ(bad_utf8.status, StoreStatus::kPermanent);
  EXPECT_EQ(bad_utf8.category(), ErrorCategory::kPermanent);
  EXPECT_EQ(bad_utf8.error_code, 1366) << bad_utf8.error;
  // A mid over the column's length.
  const auto long_mid = store.store(message(std::string(300, 'm')));
  EXPECT_EQ(long_mid.status, StoreStatus::kPermanent) << long_mid.error;
  EXPECT_EQ(rows(), 0);
  // The connection is still good for the next message.
  const auto fine = store.store(message("fine"));
  EXPECT_EQ(fine.status, StoreStatus::kInserted) << fine.error;
  EXPECT_EQ(fine.category(), ErrorCategory::kNone);
}

TEST_F(MessageStoreTest, AWarningTheStoreDidNotForeseeRemovesTheCommittedRow) {
  MysqlMessageStore store(pool());
  // Nothing in this message looks too long or badly encoded, so it takes the
  // autocommit path; its event time (before 1970) formats to a value the
  // server does not take as a DATETIME, and INSERT IGNORE stores a zero date
  // with a warning instead.
  NewMessage odd = message("before-1970");
  odd.timestamp_ms = -1;
  const auto r = store.store(odd);
  EXPECT_EQ(r.status, StoreStatus::kPermanent);
  EXPECT_NE(r.error.find("the altered row was removed"), std::string::npos) << r.error;
  EXPECT_EQ(rows(), 0);
  const auto fine = store.store(message("after-it"));
  EXPECT_EQ(fine.status, StoreStatus::kInserted) << fine.error;
  EXPECT_GT(fine.message_id, 0u);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM message WHERE ig_message_id = 'after-it' AND id = " +
                       std::to_string(fine.message_id)),
            1);
}

TEST_F(MessageStoreTest, DeletionAndEditBeforeTheMessageAreAppliedWhenItArrives) {
  MysqlMessageStore store(pool());
  const NewMessage m = message("late-mid", "original");
  MessageEdit e{m.mid, m.account_id, m.sender_id, "edited twice", 2, m.timestamp_ms + 2000};
  MessageEdit e1{m.mid, m.account_id, m.sender_id, "edited once", 1, m.timestamp_ms + 1000};
  EXPECT_EQ(store.store(e).status, StoreStatus::kApplied);
  EXPECT_EQ(store.store(e1).status, StoreStatus::kApplied);
  EXPECT_EQ(rows(), 0);  // no placeholder row
  EXPECT_EQ(store.store(m).status, StoreStatus::kInserted);
  EXPECT_EQ(state("late-mid"), (std::vector<std::optional<std::string>>{"edited twice", "2", "0"}));

  const NewMessage gone = message("gone-mid", "secret");
  MessageDeletion d{gone.mid, gone.account_id, gone.sender_id, gone.timestamp_ms + 5000};
  EXPECT_EQ(store.store(d).status, StoreStatus::kApplied);
  EXPECT_EQ(store.store(d).status, StoreStatus::kApplied);  // twice: idempotent
  EXPECT_EQ(store.store(gone).status, StoreStatus::kInserted);
  EXPECT_EQ(db_.scalar("SELECT is_deleted FROM message WHERE ig_message_id = 'gone-mid'"), 1);

  // The same in a batch: two edits and a deletion recorded before their messages.
  const NewMessage b1 = message("late-in-batch", "original");
  const NewMessage b2 = message("gone-in-batch", "secret");
  EXPECT_EQ(store.store(MessageEdit{b1.mid, b1.account_id, b1.sender_id, "one", 1, b1.timestamp_ms + 1}).status,
            StoreStatus::kApplied);
  EXPECT_EQ(store.store(MessageEdit{b1.mid, b1.account_id, b1.sender_id, "two", 2, b1.timestamp_ms + 2}).status,
            StoreStatus::kApplied);
  EXPECT_EQ(store.store(MessageDeletion{b2.mid, b2.account_id, b2.sender_id, b2.timestamp_ms + 3}).status,
            StoreStatus::kApplied);
  const auto rs = store.store_messages({b1, b2, message("plain-in-batch")});
  for (const auto& r : rs) EXPECT_EQ(r.status, StoreStatus::kInserted) << r.error;
  for (const auto& r : rs) EXPECT_GT(r.message_id, 0u);
  EXPECT_EQ(db_.query("SELECT text, edit_count FROM message WHERE ig_message_id = 'late-in-batch'").at(0),
            (std::vector<std::optional<std::string>>{"two", "2"}));
  EXPECT_EQ(db_.scalar("SELECT is_deleted FROM message WHERE ig_message_id = 'gone-in-batch'"), 1);
  EXPECT_EQ(db_.scalar("SELECT is_deleted + edit_count FROM message WHERE ig_message_id = 'plain-in-batch'"), 0);
}

TEST_F(MessageStoreTest, EditsAndDeletionsRacingTheirMessageAreNeverLost) {
  // Messages on one side, their edits and deletions on the other, at the same
  // moment: whichever commits first, every message must end up edited and deleted.
  auto& p = pool(6);
  MysqlMessageStore store(p);
  constexpr int kMids = 300;
  auto until_done = [&](const auto& make) {
    for (int attempt = 0; attempt < 50; ++attempt) {
      const StoreResult r = make();
      if (r.status != StoreStatus::kRetryable) return r;
    }
    return test::result(StoreStatus::kRetryable, "gave up");
  };
  std::barrier start(3);
  std::atomic<int> failures{0};
  std::thread messages([&] {
    Driver::ThreadScope scope(test::driver());
    start.arrive_and_wait();
    // A third one at a time, a third ten at a time each in its own
    // transaction (read back together), a third in transactions of 10.
    for (int i = 0; i < kMids / 3; ++i) {
      if (!until_done([&] { return store.store(message("race-" + std::to_string(i), "v0")); }).ok()) ++failures;
    }
    for (int i = kMids / 3; i < kMids; i += 10) {
      std::vector<NewMessage> batch;
      for (int k = i; k < i + 10; ++k) batch.push_back(message("race-" + std::to_string(k), "v0"));
      const std::size_t per_transaction = i < 2 * kMids / 3 ? 1 : 0;
      for (int attempt = 0; attempt < 50; ++attempt) {
        const auto rs = store.store_messages(batch, per_transaction);
        if (std::none_of(rs.begin(), rs.end(), [](const StoreResult& r) { return r.status == StoreStatus::kRetryable; })) break;
      }
    }
  });
  auto changes = [&](bool edits) {
    Driver::ThreadScope scope(test::driver());
    start.arrive_and_wait();
    for (int i = 0; i < kMids; ++i) {
      const NewMessage m = message("race-" + std::to_string(i));
      const StoreResult r = edits ? until_done([&] { return store.store(MessageEdit{m.mid, m.account_id, m.sender_id, "v1", 1, m.timestamp_ms}); })
                                  : until_done([&] { return store.store(MessageDeletion{m.mid, m.account_id, m.sender_id, m.timestamp_ms}); });
      if (!r.ok()) ++failures;
    }
  };
  std::thread edits([&] { changes(true); });
  std::thread deletions([&] { changes(false); });
  messages.join();
  edits.join();
  deletions.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(rows(), kMids);
  EXPECT_EQ(rows("text = 'v1' AND edit_count = 1"), kMids);
  EXPECT_EQ(rows("is_deleted = 1"), kMids);
}

TEST_F(MessageStoreTest, EachInItsOwnTransactionReadsTheNewRowsBackTogether) {
  MysqlMessageStore store(pool());
  ASSERT_EQ(store.store(message("each-stored")).status, StoreStatus::kInserted);
  const NewMessage late = message("each-late", "original");
  ASSERT_EQ(store.store(MessageEdit{late.mid, late.account_id, late.sender_id, "edited", 1, late.timestamp_ms + 1}).status,
            StoreStatus::kApplied);
  const auto rs = store.store_messages(
      {message("each-a"), message("each-stored"), late, message("each-bad", std::string(70000, 'x')), message("each-b")}, 1);
  ASSERT_EQ(rs.size(), 5u);
  EXPECT_EQ(rs[0].status, StoreStatus::kInserted) << rs[0].error;
  EXPECT_EQ(rs[1].status, StoreStatus::kDuplicate);
  EXPECT_EQ(rs[2].status, StoreStatus::kInserted) << rs[2].error;
  EXPECT_EQ(rs[3].status, StoreStatus::kPermanent);  // only the bad one fails
  EXPECT_EQ(rs[4].status, StoreStatus::kInserted) << rs[4].error;
  for (std::size_t i : {0u, 1u, 2u, 4u}) {
    EXPECT_GT(rs[i].message_id, 0u) << i;
    EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM message WHERE id = " + std::to_string(rs[i].message_id)), 1) << i;
  }
  EXPECT_EQ(db_.query("SELECT text FROM message WHERE ig_message_id = 'each-late'").at(0).at(0).value_or(""), "edited");
  EXPECT_EQ(rows(), 4);
}

TEST_F(MessageStoreTest, ARedeliveryAppliesChangesItsMessageStillOwes) {
  // A message stored, and an edit and a deletion recorded, but never applied
  // to it (as after a lost connection between the steps).
  MysqlMessageStore store(pool());
  const NewMessage m = message("owing-mid", "original");
  ASSERT_EQ(store.store(m).status, StoreStatus::kInserted);
  record_unapplied_edit(m, 1, "edited");
  db_.execute("INSERT INTO message_deletion (ig_message_id, account_id, sender_id, deleted_at) VALUES "
              "('owing-mid', '" + m.account_id + "', '" + m.sender_id + "', NOW(3))");
  EXPECT_EQ(store.store(m).status, StoreStatus::kDuplicate);
  EXPECT_EQ(state("owing-mid"), (std::vector<std::optional<std::string>>{"edited", "1", "1"}));
  // The batch path repairs the same way.
  const NewMessage n = message("owing-in-batch", "original");
  ASSERT_EQ(store.store(n).status, StoreStatus::kInserted);
  record_unapplied_edit(n, 3, "third");
  const auto rs = store.store_messages({n, message("fresh-in-batch")});
  EXPECT_EQ(rs.at(0).status, StoreStatus::kDuplicate);
  EXPECT_EQ(rs.at(1).status, StoreStatus::kInserted);
  EXPECT_EQ(db_.query("SELECT text FROM message WHERE ig_message_id = 'owing-in-batch'").at(0).at(0).value_or(""), "third");
}

TEST_F(MessageStoreTest, EditsAfterTheMessageOnlyMoveForward) {
  MysqlMessageStore store(pool());
  const NewMessage m = message("edit-mid", "v0");
  ASSERT_EQ(store.store(m).status, StoreStatus::kInserted);
  EXPECT_EQ(store.store(MessageEdit{m.mid, m.account_id, m.sender_id, "v2", 2, m.timestamp_ms + 2}).status,
            StoreStatus::kApplied);
  EXPECT_EQ(store.store(MessageEdit{m.mid, m.account_id, m.sender_id, "v1", 1, m.timestamp_ms + 1}).status,
            StoreStatus::kApplied);
  auto got = db_.query("SELECT text, edit_count FROM message WHERE ig_message_id = 'edit-mid'");
  EXPECT_EQ(got.at(0).at(0).value_or(""), "v2");
  // A deletion from someone other than the sender is recorded but changes nothing.
  EXPECT_EQ(store.store(MessageDeletion{m.mid, m.account_id, "999", m.timestamp_ms + 3}).status, StoreStatus::kApplied);
  EXPECT_EQ(db_.scalar("SELECT is_deleted FROM message WHERE ig_message_id = 'edit-mid'"), 0);
}

TEST_F(MessageStoreTest, ReactionsAndReadsAreRecordedOnce) {
  MysqlMessageStore store(pool());
  Reaction re{"r-mid", "1", "2", ReactionAction::kReact, "love", "❤️", 1768396566941};
  ReadReceipt rd{"r-mid", "1", "2", 1768396566941};
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(store.store(re).status, StoreStatus::kApplied);
    EXPECT_EQ(store.store(rd).status, StoreStatus::kApplied);
  }
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM message_reaction"), 1);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM message_read"), 1);
  EXPECT_EQ(store.store(SkippedEvent{"referral"}).status, StoreStatus::kSkipped);
}

TEST_F(MessageStoreTest, RowLockHeldTooLongIsRetryableThenStored) {
  DbOptions o = db_.options();
  o.lock_wait_timeout = 1s;
  MysqlMessageStore store(pool(2, 0, &o));
  auto holder = db_.connect();
  holder->begin();
  holder->execute(
      "INSERT INTO message (ig_message_id, account_id, sender_id, recipient_id, customer_id, direction, event_time) "
      "VALUES ('locked-mid', '1', '2', '1', '2', 'inbound', NOW(3))");
  // Another session's uncommitted insert of the same key: our INSERT IGNORE waits, then times out.
  const auto r = store.store(message("locked-mid"));
  EXPECT_EQ(r.status, StoreStatus::kRetryable);
  EXPECT_EQ(r.category(), ErrorCategory::kRetryable);
  EXPECT_EQ(r.error_code, 1205) << r.error;
  // Other messages are not blocked.
  EXPECT_EQ(store.store(message("free-mid")).status, StoreStatus::kInserted);
  holder->rollback();
  EXPECT_EQ(store.store(message("locked-mid")).status, StoreStatus::kInserted);
  EXPECT_EQ(rows("ig_message_id = 'locked-mid'"), 1);
}

TEST_F(MessageStoreTest, EveryFixtureIngestsAndReingestsAsDuplicates) {
  MysqlMessageStore store(pool());
  IngestService svc(store, clock_, {RetryOptions{}, 0, {}});
  IngestCounts first, second;
  for (const char* f : {"text.json", "echo.json", "image.json", "attachments_multi.json", "postback.json",
                        "reaction.json", "seen.json", "edit.json", "deleted.json", "multi_entry.json"}) {
    const auto a = svc.ingest(test::fixture_line(f));
    ASSERT_EQ(a.verdict, Verdict::kDone) << f << ": " << a.reason;
    first += a.counts;
    second += svc.ingest(test::fixture_line(f)).counts;
  }
  EXPECT_EQ(first.inserted, 9);
  EXPECT_EQ(second.inserted, 0);
  EXPECT_EQ(second.duplicates, 9);
  EXPECT_EQ(rows(), 9);
  auto got = db_.query("SELECT text, is_deleted, edit_count FROM message WHERE text LIKE 'Merhaba%'");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0][0].value_or("").find("20:00"), std::string::npos);
  EXPECT_EQ(got[0][1].value_or(""), "1");
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM message WHERE direction = 'echo'"), 2);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM message WHERE kind = 'postback'"), 1);
}

// A reply to a story keeps the story's id and URL in reply_to_story_id/url
// (migration 4); they used to be dropped. Both insert paths: the batch one
// (IngestService) and the single-message one.
TEST_F(MessageStoreTest, AReplyToAStoryKeepsTheStoryIdAndUrl) {
  MysqlMessageStore store(pool());
  IngestService svc(store, clock_, {RetryOptions{}, 0, {}});
  const auto r = svc.ingest(test::fixture_line("story_reply.json"));
  ASSERT_EQ(r.verdict, Verdict::kDone) << r.reason;
  EXPECT_EQ(r.counts.inserted, 1);
  NewMessage single = message("mid-story-single");
  single.reply_to_story_id = "3301234567890999999";
  single.reply_to_story_url = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1&signature=Ab-ş";
  ASSERT_EQ(store.store(single).status, StoreStatus::kInserted);
  ASSERT_EQ(store.store(message("mid-plain")).status, StoreStatus::kInserted);
  const auto got = db_.query(
      "SELECT reply_to_story_id, reply_to_story_url, text FROM message WHERE reply_to_story_id IS NOT NULL "
      "ORDER BY reply_to_story_id");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0][0].value_or(""), "3301234567890123456");
  EXPECT_EQ(got[0][1].value_or("").rfind("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17999012345678901", 0), 0u);
  EXPECT_EQ(got[0][2].value_or(""), "Bu çanta hâlâ var mı? 👜");
  EXPECT_EQ(got[1][0].value_or(""), "3301234567890999999");
  EXPECT_EQ(got[1][1].value_or(""), *single.reply_to_story_url);
  EXPECT_EQ(rows("reply_to_story_id IS NULL AND reply_to_story_url IS NULL"), 1);
  // A redelivery is a duplicate, as for any message.
  EXPECT_EQ(svc.ingest(test::fixture_line("story_reply.json")).counts.duplicates, 1);
}

// Comments/mentions in seconds and standby entries are skipped, not dead
// letters; nothing of them is stored.
TEST_F(MessageStoreTest, ChangesInSecondsAndStandbyAreSkippedAndNothingIsStored) {
  MysqlMessageStore store(pool());
  IngestService svc(store, clock_, {RetryOptions{}, 0, {}});
  for (const char* f : {"changes_seconds.json", "standby.json"}) {
    const auto r = svc.ingest(test::fixture_line(f));
    ASSERT_EQ(r.verdict, Verdict::kDone) << f << ": " << r.reason;
    EXPECT_GE(r.counts.skipped, 1) << f;
    EXPECT_EQ(r.counts.inserted, 0) << f;
  }
  EXPECT_EQ(rows(), 0);
}

}  // namespace
}  // namespace hm::mysql
