// HookedAutoModel::from_pretrained chooses the family from a real checkpoint's model_type (../shared's fixtures).
#include <fstream>

#include "arrakis/model/auto_model.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

class AutoModelFamily : public ::testing::TestWithParam<std::string> {};

TEST(AutoModel, FromPretrainedChoosesTheFamilyFromModelType) {
  ARRAKIS_REQUIRE_SHARED();
  for (const char* fixture : {"gpt_neox", "qwen2"}) {
    const auto dir = test::shared_dir() / "fixtures/hf" / fixture;
    auto model = HookedAutoModel::from_pretrained(dir);
    auto reference = load_pretrained(dir);
    EXPECT_EQ(model.config().family, reference.config().family);
    auto tokens = torch::arange(1, 9, torch::kInt64).unsqueeze(0);
    EXPECT_EQ(test::max_abs_diff(model.forward(tokens), reference.forward(tokens)), 0.0);
  }
  auto dir = test::temp_dir("auto-unsupported");
  std::ofstream(dir / "config.json") << R"({"model_type": "t5", "d_model": 8})";
  auto message = test::error_of([&] { HookedAutoModel::from_pretrained(dir); });
  EXPECT_NE(message.find("'t5' is not a supported family"), std::string::npos) << message;
  EXPECT_NE(message.find("stable-lm"), std::string::npos) << message;
}

}  // namespace
}  // namespace arrakis
