// Text forms of components and ablation kinds: accepted spellings, canonical output, errors.
#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "workers/interventions/intervention.hpp"

namespace {

using csweep::interv::AblationKind;
using csweep::interv::Component;
using csweep::interv::ComponentKind;

TEST(ParseComponent, HeadsMlpsNeurons) {
  Component c = csweep::interv::parse_component("9.1");
  EXPECT_EQ(c.kind, ComponentKind::kHead);
  EXPECT_EQ(c.layer, 9);
  EXPECT_EQ(c.index, 1);
  c = csweep::interv::parse_component("10.11");
  EXPECT_EQ(c.layer, 10);
  EXPECT_EQ(c.index, 11);
  c = csweep::interv::parse_component("mlp3");
  EXPECT_EQ(c.kind, ComponentKind::kMlp);
  EXPECT_EQ(c.layer, 3);
  EXPECT_EQ(c.index, 0);
  EXPECT_EQ(csweep::interv::parse_component("m11"), (Component{ComponentKind::kMlp, 11, 0}));
  c = csweep::interv::parse_component("n3.117");
  EXPECT_EQ(c.kind, ComponentKind::kNeuron);
  EXPECT_EQ(c.layer, 3);
  EXPECT_EQ(c.index, 117);
}

TEST(ParseComponent, RoundTripsToCanonicalText) {
  for (const std::string s : {"0.0", "9.1", "11.10", "mlp0", "mlp11", "n0.0", "n5.3071"}) {
    EXPECT_EQ(csweep::interv::to_string(csweep::interv::parse_component(s)), s);
  }
  EXPECT_EQ(csweep::interv::to_string(csweep::interv::parse_component("m4")), "mlp4");
}

TEST(ParseComponent, MalformedTextIsAnInputErrorNamingIt) {
  for (const std::string s : {"", "9", "9.", ".1", "9.1.2", "a.b", "mlp", "m", "mlpx", "n3", "n.3",
                              "-1.2", "9.-1", " 9.1", "9.1 ", "L9H1", "99999999999.1"}) {
    try {
      csweep::interv::parse_component(s);
      ADD_FAILURE() << "accepted '" << s << "'";
    } catch (const csweep::InputError& e) {
      EXPECT_NE(std::string(e.what()).find("'" + s + "'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("mlpL"), std::string::npos) << e.what();
    }
  }
}

TEST(ParseAblationKind, NamesAndAliases) {
  EXPECT_EQ(csweep::interv::parse_ablation_kind("zero"), AblationKind::kZero);
  EXPECT_EQ(csweep::interv::parse_ablation_kind("mean"), AblationKind::kMean);
  EXPECT_EQ(csweep::interv::parse_ablation_kind("resample"), AblationKind::kResample);
  EXPECT_EQ(csweep::interv::parse_ablation_kind("patch"), AblationKind::kPatchCorruptIntoClean);
  EXPECT_EQ(csweep::interv::parse_ablation_kind("patch_clean_into_corrupt"),
            AblationKind::kPatchCleanIntoCorrupt);
  EXPECT_EQ(csweep::interv::parse_ablation_kind("path_patching"), AblationKind::kPathPatch);
  for (auto k : {AblationKind::kZero, AblationKind::kMean, AblationKind::kResample,
                 AblationKind::kPatchCorruptIntoClean, AblationKind::kPatchCleanIntoCorrupt,
                 AblationKind::kPathPatch}) {
    EXPECT_EQ(csweep::interv::parse_ablation_kind(csweep::interv::to_string(k)), k);
  }
  EXPECT_STREQ(csweep::interv::to_string(AblationKind::kPathPatch), "path_patch");
  try {
    csweep::interv::parse_ablation_kind("Mean");
    FAIL() << "expected InputError";
  } catch (const csweep::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'Mean'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("resample"), std::string::npos) << e.what();
  }
}

}  // namespace
