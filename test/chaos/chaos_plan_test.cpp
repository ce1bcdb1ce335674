// The chaos plan without a cluster: the fault counts the issue asks for, every kind injected,
// the same seed giving the same plan, and edits that keep the stages valid.
#include "test/chaos/chaos_plan.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace envop::chaos {
namespace {

std::map<Fault, int> kinds(const std::vector<Round>& rounds) {
  std::map<Fault, int> n;
  for (const Round& r : rounds) {
    ++n[r.primary];
    for (const Injection& s : r.secondaries) ++n[s.fault];
  }
  return n;
}

TEST(ChaosPlan, FortyFaultsAreTwentyLeaderKillsAndTwoOfEveryOtherKind) {
  Rng rng(42);
  const auto rounds = planRounds(rng, {.faults = 40});
  EXPECT_EQ(countFaults(rounds), 40);
  const auto n = kinds(rounds);
  EXPECT_EQ(n.at(Fault::kLeaderKill), 20);
  EXPECT_EQ(n.size(), 11u);
  for (const auto& [f, count] : n) {
    if (f != Fault::kLeaderKill) {
      EXPECT_EQ(count, 2) << faultName(f);
    }
  }
}

TEST(ChaosPlan, ABoundedRunStillInjectsEveryKind) {
  for (int faults : {11, 12, 16}) {
    Rng rng(7);
    const auto rounds = planRounds(rng, {.faults = faults});
    EXPECT_EQ(countFaults(rounds), faults);
    EXPECT_EQ(kinds(rounds).size(), 11u) << faults;
  }
}

TEST(ChaosPlan, SecondariesLieInsideTheirWindowAndNoRestartEndsAStop) {
  for (std::uint64_t seed = 1; seed < 50; ++seed) {
    Rng rng(seed);
    for (const Round& r : planRounds(rng, {.faults = 40})) {
      for (const Injection& s : r.secondaries) {
        EXPECT_GE(s.atMs, 0);
        EXPECT_LE(s.atMs, std::max(r.windowMs, 3'000)) << faultName(r.primary);
        if (isDurative(s.fault)) {
          // A degraded spell ends inside its host's window, on another dependency.
          EXPECT_LE(s.atMs + 15'000, r.windowMs) << faultName(r.primary);
          EXPECT_NE(r.primary, s.fault);
        }
        if (r.primary == Fault::kApiserverStop) {
          EXPECT_NE(s.fault, Fault::kApiserverRestart);
        }
        EXPECT_FALSE(s.fault == Fault::kHelmKill) << "a helm kill leads its own round";
      }
      ASSERT_FALSE(r.editsAtMs.empty());
      EXPECT_EQ(r.editsAtMs.front(), 0);
    }
  }
}

TEST(ChaosPlan, TheSameSeedGivesTheSamePlanAndEdits) {
  auto describe = [](std::uint64_t seed) {
    Rng rng(seed);
    std::string out;
    for (const Round& r : planRounds(rng, {.faults = 40})) {
      out += faultName(r.primary) + std::to_string(r.windowMs);
      for (const Injection& s : r.secondaries) out += faultName(s.fault) + std::to_string(s.atMs);
    }
    auto stages = initialStages();
    for (int i = 0; i < 30; ++i) out += randomEdit(rng, stages).what;
    return out;
  };
  EXPECT_EQ(describe(9), describe(9));
  EXPECT_NE(describe(9), describe(10));
}

TEST(ChaosPlan, EditsKeepEveryStageValid) {
  Rng rng(3);
  auto stages = initialStages();
  int deletions = 0;
  std::set<std::string> deletedSinceConvergence;
  for (int i = 0; i < 2000; ++i) {
    const Edit e = randomEdit(rng, stages);
    deletions += e.deleted;
    if (e.deleted) deletedSinceConvergence.insert(e.stage);
    if (e.recreated) {
      EXPECT_EQ(deletedSinceConvergence.count(e.stage), 0u) << "recreated while still deleting";
    }
    // Every few edits a convergence sees the deleted ones gone.
    if (i % 3 == 2) {
      for (StageModel& s : stages) s.deleting = false;
      deletedSinceConvergence.clear();
    }
    int live = 0;
    for (const StageModel& s : stages) {
      live += s.exists;
      // config-server, registry and gateway always stay; dependsOn names only present releases.
      EXPECT_TRUE(s.releases.count("config-server") && s.releases.count("gateway"));
      const auto manifest = environmentManifest(s, {"oci://127.0.0.1:1/springcloud", "https://h"});
      for (const auto& rel : manifest["spec"]["releases"]) {
        for (const auto& d : rel.value("dependsOn", nlohmann::json::array())) {
          EXPECT_TRUE(s.releases.count(d.get<std::string>())) << manifest.dump();
        }
        EXPECT_NE(rel["version"], "1.1.0") << "the broken chart";
      }
    }
    EXPECT_GE(live, 2);
  }
  EXPECT_GT(deletions, 10);
}

}  // namespace
}  // namespace envop::chaos
