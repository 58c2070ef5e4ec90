// Training forward of GPT-2 in Hugging Face layout (see gpt2_train.hpp).
#include "workers/train/gpt2_train.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/files.hpp"

namespace csweep::train {

namespace {

std::string layer_name(int l, const char* rest) { return "transformer.h." + std::to_string(l) + "." + rest; }

const torch::Tensor& get(const std::map<std::string, torch::Tensor>& p, const std::string& name) {
  auto it = p.find(name);
  CSWEEP_ASSERT(it != p.end(), "missing training parameter {}", name);
  return it->second;
}

}  // namespace

std::map<std::string, torch::Tensor> init_gpt2_params(const Gpt2Shape& s) {
  const int64_t D = s.d_model, M = s.d_mlp;
  std::map<std::string, torch::Tensor> p;
  auto normal = [](std::vector<int64_t> shape, double std) { return torch::randn(shape) * std; };
  const double proj_std = 0.02 / std::sqrt(2.0 * s.n_layers);
  p["transformer.wte.weight"] = normal({s.d_vocab, D}, 0.02);
  p["transformer.wpe.weight"] = normal({s.n_ctx, D}, 0.01);
  for (int l = 0; l < s.n_layers; ++l) {
    p[layer_name(l, "ln_1.weight")] = torch::ones({D});
    p[layer_name(l, "ln_1.bias")] = torch::zeros({D});
    p[layer_name(l, "attn.c_attn.weight")] = normal({D, 3 * D}, 0.02);
    p[layer_name(l, "attn.c_attn.bias")] = torch::zeros({3 * D});
    p[layer_name(l, "attn.c_proj.weight")] = normal({D, D}, proj_std);
    p[layer_name(l, "attn.c_proj.bias")] = torch::zeros({D});
    p[layer_name(l, "ln_2.weight")] = torch::ones({D});
    p[layer_name(l, "ln_2.bias")] = torch::zeros({D});
    p[layer_name(l, "mlp.c_fc.weight")] = normal({D, M}, 0.02);
    p[layer_name(l, "mlp.c_fc.bias")] = torch::zeros({M});
    p[layer_name(l, "mlp.c_proj.weight")] = normal({M, D}, proj_std);
    p[layer_name(l, "mlp.c_proj.bias")] = torch::zeros({D});
  }
  p["transformer.ln_f.weight"] = torch::ones({D});
  p["transformer.ln_f.bias"] = torch::zeros({D});
  for (auto& [name, t] : p) t.set_requires_grad(true);
  return p;
}

torch::Tensor gpt2_logits(const std::map<std::string, torch::Tensor>& p, const Gpt2Shape& s,
                          const torch::Tensor& tokens) {
  const int64_t B = tokens.size(0), T = tokens.size(1), D = s.d_model, H = s.n_heads, Dh = D / H;
  CSWEEP_ASSERT(T <= s.n_ctx, "{} tokens exceed the context of {}", T, s.n_ctx);
  const auto& wte = get(p, "transformer.wte.weight");
  auto x = wte.index_select(0, tokens.reshape({-1})).view({B, T, D}) +
           get(p, "transformer.wpe.weight").narrow(0, 0, T).unsqueeze(0);  // [batch, pos, d_model]
  const auto future = torch::ones({T, T}, torch::kBool).triu(1);
  for (int l = 0; l < s.n_layers; ++l) {
    auto h = torch::layer_norm(x, {D}, get(p, layer_name(l, "ln_1.weight")), get(p, layer_name(l, "ln_1.bias")), s.eps);
    auto qkv = torch::addmm(get(p, layer_name(l, "attn.c_attn.bias")), h.reshape({B * T, D}),
                            get(p, layer_name(l, "attn.c_attn.weight")))
                   .view({B, T, 3, H, Dh})
                   .permute({2, 0, 3, 1, 4});  // [3, batch, head, pos, d_head]
    const auto q = qkv[0], k = qkv[1], v = qkv[2];
    auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(Dh));
    scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
    auto z = torch::matmul(scores.softmax(-1), v);                    // [batch, head, pos, d_head]
    z = z.permute({0, 2, 1, 3}).reshape({B * T, D});                  // [batch*pos, head*d_head]
    x = x + torch::addmm(get(p, layer_name(l, "attn.c_proj.bias")), z,
                         get(p, layer_name(l, "attn.c_proj.weight"))).view({B, T, D});
    h = torch::layer_norm(x, {D}, get(p, layer_name(l, "ln_2.weight")), get(p, layer_name(l, "ln_2.bias")), s.eps);
    auto m = torch::gelu(torch::addmm(get(p, layer_name(l, "mlp.c_fc.bias")), h.reshape({B * T, D}),
                                      get(p, layer_name(l, "mlp.c_fc.weight"))),
                         "tanh");
    x = x + torch::addmm(get(p, layer_name(l, "mlp.c_proj.bias")), m,
                         get(p, layer_name(l, "mlp.c_proj.weight"))).view({B, T, D});
  }
  x = torch::layer_norm(x, {D}, get(p, "transformer.ln_f.weight"), get(p, "transformer.ln_f.bias"), s.eps);
  return torch::matmul(x, wte.t());  // tied unembedding
}

void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::string data;
  for (const auto& [name, t] : tensors) {
    const auto c = t.detach().to(torch::kFloat32).contiguous();
    const std::size_t begin = data.size();
    data.append(static_cast<const char*>(c.data_ptr()), c.numel() * sizeof(float));
    header[name] = {{"dtype", "F32"}, {"shape", c.sizes().vec()}, {"data_offsets", {begin, data.size()}}};
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keeps the data buffer 8-byte aligned
  std::string out(8, '\0');
  std::uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  out += h;
  out += data;
  write_file_atomic(path, out);
}

}  // namespace csweep::train
