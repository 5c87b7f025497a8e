#include "core/line_source.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace hm
