#pragma once
// The hook-point ids of one transformer block, in forward order (-1 where the block has no such point).
namespace arrakis {

struct BlockHookIds {
  int resid_pre = -1;
  int attn_in = -1, q_input = -1, k_input = -1, v_input = -1;
  int ln1_scale = -1, ln1_normalized = -1;
  int q = -1, k = -1, v = -1;
  int q_norm_scale = -1, q_norm_normalized = -1, k_norm_scale = -1, k_norm_normalized = -1;
  int rot_q = -1, rot_k = -1;
  int attn_scores = -1, pattern = -1, z = -1, result = -1;
  int attn_out = -1, resid_mid = -1;
  int mlp_in = -1, ln2_scale = -1, ln2_normalized = -1;
  int mlp_pre = -1, mlp_pre_linear = -1, mlp_post = -1, mlp_out = -1;
  int resid_post = -1;
};

}  // namespace arrakis
