// Edge names: MIB's spelling round-trips, component spellings are accepted for nodes, and
// malformed names are rejected.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "vocab/edges.hpp"

namespace csweep::vocab {
namespace {

using interv::Component;
using interv::ComponentKind;
using interv::Edge;
using interv::ReceiverKind;

TEST(EdgeNames, MibSpellingRoundTrips) {
  for (const char* s : {"a0.h1->a2.h3<q>", "a0.h1->a2.h0<k>", "m0->a1.h2<v>", "a1.h0->m1", "m2->logits",
                        "a3.h11->logits"}) {
    EXPECT_EQ(edge_name(parse_edge(s)), s);
  }
  EXPECT_EQ(edge_name(parse_edge("0.1->mlp3")), "a0.h1->m3");  // project spellings accepted
  const Edge e = parse_edge("a0.h1->a2.h3<q>");
  EXPECT_EQ(e.sender, (Component{ComponentKind::kHead, 0, 1}));
  EXPECT_EQ(e.receiver.kind, ReceiverKind::kHeadQ);
  EXPECT_EQ(e.receiver.layer, 2);
  EXPECT_EQ(e.receiver.head, 3);
  for (const char* bad : {"a0.h1", "a0.h1->a2.h3<x>", "n0.3->logits", "a0.h1->m", "x->logits", "a0.h1->a2.h3"}) {
    EXPECT_THROW(parse_edge(bad), InputError) << bad;
  }
}

TEST(EdgeNames, NodesAndChannels) {
  EXPECT_EQ(node_name(*find_node("a3.h11")), "a3.h11");
  EXPECT_EQ(node_name(*find_node("mlp2")), "m2");
  EXPECT_EQ(node_name(*find_node("4.1")), "a4.h1");
  EXPECT_FALSE(find_node("n3.4").has_value());
  EXPECT_FALSE(find_node("a3").has_value());
  EXPECT_EQ(channel_name(ReceiverKind::kHeadK), "k");
  EXPECT_EQ(channel_name(ReceiverKind::kResidFinal), "resid");
}

}  // namespace
}  // namespace csweep::vocab
