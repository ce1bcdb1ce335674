#include "controller/harbor/robot_secret.h"

#include <gtest/gtest.h>

#include <set>

namespace envop::harbor {
namespace {

TEST(HarborRobotSecretTest, GeneratedSecretsMeetHarborsRuleAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 500; ++i) {
    const std::string s = generateRobotSecret();
    ASSERT_EQ(s.size(), kRobotSecretLength);
    ASSERT_TRUE(isValidRobotSecret(s)) << s;
    for (const char c : s) ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << s;
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 500u);
}

TEST(HarborRobotSecretTest, HarborsRule) {
  EXPECT_TRUE(isValidRobotSecret("Abcdefg1"));
  EXPECT_FALSE(isValidRobotSecret("Abcdef1"));   // 7 characters
  EXPECT_FALSE(isValidRobotSecret("abcdefg1"));  // no upper-case letter
  EXPECT_FALSE(isValidRobotSecret("ABCDEFG1"));  // no lower-case letter
  EXPECT_FALSE(isValidRobotSecret("Abcdefgh"));  // no digit
  EXPECT_TRUE(isValidRobotSecret("A1" + std::string(126, 'a')));
  EXPECT_FALSE(isValidRobotSecret("A1" + std::string(127, 'a')));  // 129 characters
}

}  // namespace
}  // namespace envop::harbor
