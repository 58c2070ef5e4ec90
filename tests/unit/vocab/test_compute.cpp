#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "vocab/compute.hpp"

namespace csweep::vocab {
namespace {

TEST(ComputeNames, DeviceRequestsRoundTrip) {
  using K = DeviceRequest::Kind;
  EXPECT_EQ(parse_device_request("auto").kind, K::kAuto);
  EXPECT_EQ(parse_device_request("cpu").kind, K::kCpu);
  EXPECT_EQ(parse_device_request("cuda").kind, K::kCuda);
  EXPECT_EQ(parse_device_request("cuda").index, -1);
  EXPECT_EQ(parse_device_request("gpu").kind, K::kCuda);
  EXPECT_EQ(parse_device_request("cuda:7").index, 7);
  for (const char* s : {"auto", "cpu", "cuda", "cuda:0", "cuda:12"})
    EXPECT_EQ(device_request_name(parse_device_request(s)), s);
}

TEST(ComputeNames, BadDevicesAreNamedWithWhatIsAccepted) {
  for (const char* s : {"", "CPU", "cuda:", "cuda:-1", "cuda:1x", "cuda:99999", "mps", "cuda 0"}) {
    try {
      parse_device_request(s, "--device");
      ADD_FAILURE() << "accepted '" << s << "'";
    } catch (const InputError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("--device: unknown device (got '" + std::string(s) + "'"), std::string::npos) << m;
      EXPECT_NE(m.find("expected auto, cpu, cuda"), std::string::npos) << m;
    }
  }
}

TEST(ComputeNames, DtypesAndAliases) {
  const auto& v = compute_dtypes();
  EXPECT_EQ(v.parse("float32"), ComputeDtype::kFloat32);
  EXPECT_EQ(v.parse("fp32"), ComputeDtype::kFloat32);
  EXPECT_EQ(v.parse("bf16"), ComputeDtype::kBFloat16);
  EXPECT_EQ(v.parse("half"), ComputeDtype::kFloat16);
  EXPECT_EQ(v.name(ComputeDtype::kBFloat16), "bfloat16");
  EXPECT_THROW(v.parse("float64", "--dtype"), InputError);  // the exactness mode is not a user dtype
}

}  // namespace
}  // namespace csweep::vocab
