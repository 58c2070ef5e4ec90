#include "core/strings.hpp"

#include <gtest/gtest.h>

namespace csweep {
namespace {

using List = std::vector<std::string>;

TEST(SplitList, SplitsOnCommasInOrder) {
  EXPECT_EQ(split_list("blocks.0.*,hook_embed"), (List{"blocks.0.*", "hook_embed"}));
  EXPECT_EQ(split_list("one"), (List{"one"}));
}

TEST(SplitList, DropsEmptyPieces) {
  EXPECT_EQ(split_list(""), List{});
  EXPECT_EQ(split_list(","), List{});
  EXPECT_EQ(split_list(",a,,b,"), (List{"a", "b"}));
}

TEST(SplitList, OtherSeparatorKeepsCommas) {
  EXPECT_EQ(split_list("a,b;c", ';'), (List{"a,b", "c"}));
}

}  // namespace
}  // namespace csweep
