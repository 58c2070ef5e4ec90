// The name tables of vocab/names.hpp: every canonical name and alias round-trips, canonical
// output is stable, and unknown names are InputErrors listing what is accepted.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/error.hpp"
#include "vocab/names.hpp"

namespace csweep::vocab {
namespace {

using interv::AblationKind;
using interv::Component;
using interv::ComponentKind;
using interv::ReceiverKind;
using metrics::Metric;

template <class E>
void expect_round_trips(const Vocabulary<E>& v) {
  std::set<std::string> seen;
  for (const auto& t : v.terms()) {
    EXPECT_EQ(v.parse(t.name), t.value) << t.name;
    EXPECT_EQ(v.name(t.value), t.name);
    for (const auto& a : t.aliases) {
      EXPECT_EQ(v.parse(a), t.value) << a;
      EXPECT_EQ(v.name(v.parse(a)), t.name) << a;  // aliases are never written back
    }
    EXPECT_FALSE(t.doc.empty()) << t.name;
  }
  for (const auto& s : v.spellings()) EXPECT_TRUE(seen.insert(s).second) << "spelled twice: " << s;
}

// The canonical names are part of the file format (HDF5 attributes and columns): they are
// spelled out here, not read from the table under test.
TEST(Vocabulary, AblationKindsAreTheDocumentedNames) {
  expect_round_trips(ablation_kinds());
  EXPECT_EQ(ablation_kinds().names(),
            (std::vector<std::string>{"zero", "mean", "resample", "patch_corrupt_into_clean",
                                      "patch_clean_into_corrupt", "path_patch"}));
  EXPECT_EQ(ablation_kinds().parse("patch"), AblationKind::kPatchCorruptIntoClean);
  EXPECT_EQ(ablation_kinds().parse("path_patching"), AblationKind::kPathPatch);
  EXPECT_EQ(ablation_kinds().parse("path"), AblationKind::kPathPatch);
}

TEST(Vocabulary, MetricsAreTheColumnNames) {
  expect_round_trips(metrics());
  EXPECT_EQ(metrics().names(), (std::vector<std::string>{"logit_diff", "performance", "normalized", "kl",
                                                         "prob_correct", "accuracy", "prob_diff"}));
  EXPECT_EQ(metrics().parse("ld"), Metric::kLogitDiff);
  EXPECT_EQ(metrics().parse("normalised"), Metric::kNormalized);
  EXPECT_EQ(metrics().parse("top1"), Metric::kAccuracy);
  EXPECT_EQ(metrics().name(metrics().parse("perf")), "performance");
  // Only the three LD-based metrics can be computed from the two answer logits alone.
  for (const auto& t : metrics().terms())
    EXPECT_EQ(needs_full_distribution(t.value),
              !(t.name == "logit_diff" || t.name == "performance" || t.name == "normalized"))
        << t.name;
}

TEST(Vocabulary, FamilyKinds) {
  expect_round_trips(family_kinds());
  EXPECT_EQ(family_kinds().names(), (std::vector<std::string>{"combinations", "subsets", "positions", "paths", "pruning", "edge_pruning", "faithfulness"}));
  EXPECT_TRUE(vocab::is_circuit_stage(FamilyKind::kEdgePruning));
  EXPECT_TRUE(vocab::is_circuit_stage(FamilyKind::kFaithfulness));
  EXPECT_FALSE(vocab::is_circuit_stage(FamilyKind::kPruning));
}

TEST(Vocabulary, UnknownNameIsAnInputErrorListingEveryName) {
  try {
    ablation_kinds().parse("Mean", "job.toml:7: experiments.ablations[0]");
    FAIL() << "accepted 'Mean'";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("job.toml:7: experiments.ablations[0]: unknown ablation kind (got 'Mean'", 0), 0u) << msg;
    for (const auto& n : ablation_kinds().spellings()) EXPECT_NE(msg.find(n), std::string::npos) << n << ": " << msg;
  }
  try {
    metrics().parse("logitdiff");
    FAIL() << "accepted 'logitdiff'";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'logitdiff'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("prob_diff"), std::string::npos) << msg;
  }
}

TEST(Components, HeadsMlpsNeurons) {
  EXPECT_EQ(parse_component("9.1"), (Component{ComponentKind::kHead, 9, 1}));
  EXPECT_EQ(parse_component("10.11"), (Component{ComponentKind::kHead, 10, 11}));
  EXPECT_EQ(parse_component("mlp3"), (Component{ComponentKind::kMlp, 3, 0}));
  EXPECT_EQ(parse_component("m11"), (Component{ComponentKind::kMlp, 11, 0}));
  EXPECT_EQ(parse_component("n3.117"), (Component{ComponentKind::kNeuron, 3, 117}));
}

TEST(Components, RoundTripToCanonicalText) {
  for (const std::string s : {"0.0", "9.1", "11.10", "mlp0", "mlp11", "n0.0", "n5.3071", "123456789.987654321"})
    EXPECT_EQ(component_name(parse_component(s)), s);
  EXPECT_EQ(component_name(parse_component("m4")), "mlp4");
  EXPECT_EQ(component_name(parse_component("09.01")), "9.1");
  EXPECT_EQ(components_name({parse_component("9.1"), parse_component("m4"), parse_component("n3.117")}),
            "9.1+mlp4+n3.117");
  EXPECT_EQ(components_name({}), "");
  EXPECT_EQ(parse_components("9.1+mlp4+n3.117"),
            (std::vector<Component>{{ComponentKind::kHead, 9, 1}, {ComponentKind::kMlp, 4, 0},
                                    {ComponentKind::kNeuron, 3, 117}}));
  EXPECT_TRUE(parse_components("").empty());
  EXPECT_THROW(parse_components("9.1+"), InputError);
}

TEST(Components, MalformedTextIsAnInputErrorNamingIt) {
  for (const std::string s : {"", "9", "9.", ".1", "9.1.2", "a.b", "mlp", "m", "mlpx", "n3", "n.3",
                              "-1.2", "9.-1", " 9.1", "9.1 ", "L9H1", "99999999999.1", "mlp-1", "+9.1"}) {
    EXPECT_FALSE(find_component(s)) << s;
    try {
      parse_component(s, "--ablate");
      ADD_FAILURE() << "accepted '" << s << "'";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind("--ablate: ", 0), 0u) << msg;
      EXPECT_NE(msg.find("'" + s + "'"), std::string::npos) << msg;
      EXPECT_NE(msg.find("mlpL"), std::string::npos) << msg;
    }
  }
}

TEST(Receivers, RoundTripAndErrors) {
  EXPECT_EQ(parse_receiver("resid_final").kind, ReceiverKind::kResidFinal);
  const auto r = parse_receiver("9.1q");
  EXPECT_EQ(r.kind, ReceiverKind::kHeadQ);
  EXPECT_EQ(r.layer, 9);
  EXPECT_EQ(r.head, 1);
  EXPECT_EQ(parse_receiver("0.3k").kind, ReceiverKind::kHeadK);
  EXPECT_EQ(parse_receiver("2.0v").kind, ReceiverKind::kHeadV);
  EXPECT_EQ(parse_receiver("mlp5").kind, ReceiverKind::kMlpIn);
  for (const std::string s : {"resid_final", "9.1q", "0.3k", "11.11v", "mlp0", "mlp5"})
    EXPECT_EQ(receiver_name(parse_receiver(s)), s);
  for (const std::string s : {"", "9.1", "9.1x", "q", "mlp", "m5", "n3.1q", "resid", "9.q"}) {
    EXPECT_FALSE(find_receiver(s)) << s;
    EXPECT_THROW(parse_receiver(s), InputError) << s;
  }
}

TEST(Positions, IndicesAndNames) {
  EXPECT_EQ(position_index("3"), 3);
  EXPECT_EQ(position_index("-1"), -1);
  EXPECT_EQ(position_index("0"), 0);
  EXPECT_FALSE(position_index("end"));
  EXPECT_FALSE(position_index("-"));
  EXPECT_FALSE(position_index("3a"));
  EXPECT_EQ(position_label("03"), "3");
  EXPECT_EQ(position_label("-1"), "-1");
  EXPECT_EQ(position_label("-0"), "0");
  EXPECT_EQ(position_label("end"), "end");
  EXPECT_EQ(position_label("S1"), "S1");
  EXPECT_EQ(position_label("XX1"), "XX1");
  const auto p = parse_positions({"end", "-1", "3", "S1"});
  EXPECT_EQ(p.indices, (std::vector<int>{-1, 3}));
  EXPECT_EQ(p.names, (std::vector<std::string>{"end", "S1"}));
  EXPECT_TRUE(parse_positions({}).all());
  EXPECT_EQ(position_label(std::to_string(kMaxPositionIndex)), std::to_string(kMaxPositionIndex));
  EXPECT_EQ(position_label(std::to_string(-kMaxPositionIndex)), std::to_string(-kMaxPositionIndex));
}

TEST(Positions, InvalidIsAnInputErrorNamingWhere) {
  for (const std::string s : {"", "all", "-", "3a", "S 1", "1048576", "-1048576", "e-nd", " end", "é"}) {
    try {
      position_label(s, "--positions");
      ADD_FAILURE() << "accepted '" << s << "'";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind("--positions: ", 0), 0u) << msg;
      EXPECT_NE(msg.find("'" + s + "'"), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace csweep::vocab
