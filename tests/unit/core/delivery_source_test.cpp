#include "core/line_source.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace hm {
namespace {

TEST(LineSourceTest, ReadsLinesSkipsBlanksAndNamesOrigins) {
  std::istringstream in("{\"a\":1}\n\n   \n{\"b\":2}\r\n{\"c\":3}");
  LineSource src(in, "file:x", 1024);
  auto a = src.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->payload, "{\"a\":1}");
  EXPECT_EQ(a->origin, "file:x:1");
  auto b = src.next();
  EXPECT_EQ(b->payload, "{\"b\":2}");
  EXPECT_EQ(b->origin, "file:x:4");
  auto c = src.next();
  EXPECT_EQ(c->payload, "{\"c\":3}");
  EXPECT_FALSE(src.next());
}

TEST(LineSourceTest, OversizedLinesAreCutAndMarked) {
  std::istringstream in(std::string(100, 'x') + "\nok\n");
  LineSource src(in, "s", 10);
  auto big = src.next();
  ASSERT_TRUE(big);
  EXPECT_TRUE(big->oversized);
  EXPECT_EQ(big->size, 100u);
  EXPECT_EQ(big->payload.size(), 10u);
  auto ok = src.next();
  EXPECT_FALSE(ok->oversized);
  EXPECT_EQ(ok->payload, "ok");
}

TEST(LineSourceTest, KeepsNulBytes) {
  std::istringstream in(std::string("a\0b\n", 4));
  LineSource src(in, "s", 10);
  EXPECT_EQ(src.next()->payload, std::string("a\0b", 3));
}

// A read error (here EISDIR: a directory opened as a file; libstdc++'s
// filebuf throws from sbumpc() rather than setting badbit) ends the source
// with a failed status, never an exception across the seam.
TEST(LineSourceTest, AReadErrorEndsTheSourceWithAStatusNotAnException) {
  std::ifstream dir("/tmp");
  ASSERT_TRUE(dir.is_open());
  LineSource src(dir, "file:/tmp", 1024);
  std::optional<SourcedDelivery> d;
  EXPECT_NO_THROW(d = src.next());
  EXPECT_FALSE(d);
  EXPECT_FALSE(src.status().ok());
  EXPECT_NE(src.status().message.find("reading file:/tmp failed"), std::string::npos) << src.status().message;
  EXPECT_FALSE(src.next());  // stays ended
}

TEST(LineSourceTest, TheEndOfTheInputIsAnOkStatus) {
  std::istringstream in("{}\n");
  LineSource src(in, "s", 10);
  EXPECT_TRUE(src.next());
  EXPECT_FALSE(src.next());
  EXPECT_TRUE(src.status().ok());
}

}  // namespace
}  // namespace hm
