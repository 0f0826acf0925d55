// One generic autograd node whose backward is a Rust function: what tch lacks in place of
// torch::autograd::Function. A loss computes its value in Rust, hands it here with the inputs it
// depends on and a callback, and gets back a tensor whose grad_fn calls that callback with the
// upstream gradient. The callback's own operations are recorded by autograd when the engine runs
// with create_graph (the engine turns grad mode on for exactly that), so a gradient computed from
// the attached inputs is itself differentiable: double backward needs nothing more here.
//
// The Rust side owns the callback's context; the node calls `drop` once, when it releases its
// variables after a backward without retain_graph, or when it is destroyed, whichever is first.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "message.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace {

// Fills `grads` (n entries, each NULL or a new at::Tensor the node takes ownership of); returns
// 0, or non-zero after calling tp_error_set on `error`. The callee owns `upstream`.
using tp_backward_fn = int (*)(void *context, at::Tensor *upstream, at::Tensor **grads, void *error);
using tp_drop_fn = void (*)(void *context);

struct TpRustBackward : public torch::autograd::Node {
  TpRustBackward(std::string name, size_t inputs, tp_backward_fn backward, tp_drop_fn drop, void *context)
      : name_(std::move(name)), inputs_(inputs), backward_(backward), drop_(drop), context_(context) {}

  ~TpRustBackward() override { release(); }

  std::string name() const override { return name_; }

  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    release();
  }

 protected:
  torch::autograd::variable_list apply(torch::autograd::variable_list &&upstream) override {
    std::lock_guard<std::mutex> lock(mutex_);
    TORCH_CHECK(context_ != nullptr, "Trying to backward through ", name_,
                " a second time (or directly access saved tensors after they have already been freed). Saved "
                "intermediate values of the graph are freed when you call .backward() or autograd.grad(). "
                "Specify retain_graph=True if you need to backward through the graph a second time.");
    TORCH_CHECK(upstream.size() == 1, name_, " has one output, got ", upstream.size(), " gradients");
    std::vector<at::Tensor *> raw(inputs_, nullptr);
    std::string error;
    int failed = backward_(context_, new at::Tensor(std::move(upstream[0])), raw.data(), &error);
    torch::autograd::variable_list grads(inputs_);
    for (size_t i = 0; i < inputs_; ++i) {
      if (raw[i] != nullptr) {
        grads[i] = std::move(*raw[i]);
        delete raw[i];
      }
    }
    TORCH_CHECK(failed == 0, name_, ": ", error);
    return grads;
  }

 private:
  void release() {
    if (context_ != nullptr) {
      drop_(context_);
      context_ = nullptr;
    }
  }

  std::string name_;
  size_t inputs_;
  tp_backward_fn backward_;
  tp_drop_fn drop_;
  void *context_;
};

}  // namespace

extern "C" {

// The Rust callback's way to report an error message (`error` is the pointer it was given).
void tp_error_set(void *error, const char *text, size_t len) {
  static_cast<std::string *>(error)->assign(text, len);
}

// The instructions libtorch's CPU kernels were dispatched to on this machine: 2 for AVX-512, 1
// for AVX2, 0 for the default build of at::vec (plain C++, 32-byte arrays of scalars).
int tp_cpu_capability() {
  try {
    auto capability = at::get_cpu_capability();
    return capability == "AVX512" ? 2 : capability == "AVX2" ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

// Runs body(context, begin, end) over [0, n) on libtorch's intra-op thread pool, split as
// at::parallel_for splits its own kernels' work (grain: the fewest elements worth a thread).
// Rust loops that stand in for a libtorch kernel run on the same threads: Rust threads of their
// own would compete for the cores with libtorch's OpenMP workers, which spin for a while after
// every parallel op. body must not throw (the Rust side catches its panics).
void tp_parallel_for(int64_t n, int64_t grain, void (*body)(void*, int64_t, int64_t), void* context) {
  at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) { body(context, begin, end); });
}

// Whether autograd records operations now: in a backward pass, whether it was asked to
// create_graph.
int tp_grad_enabled() { return at::GradMode::is_enabled() ? 1 : 0; }

// `*out` = a tensor with `value`'s data whose gradient with respect to inputs[i] is what
// `backward` returns at i. Takes ownership of `context` in every case, failure included. Without
// grad mode, or when no input requires a gradient, `*out` is `value` detached and no node is made.
char *tp_rust_backward(const char *name, at::Tensor *value, at::Tensor **inputs, int n, tp_backward_fn backward,
                       tp_drop_fn drop, void *context, at::Tensor **out) {
  auto node = c10::make_intrusive<TpRustBackward>(name, static_cast<size_t>(n), backward, drop, context);
  try {
    std::vector<at::Tensor> list;
    list.reserve(n);
    bool wanted = false;
    for (int i = 0; i < n; ++i) {
      list.push_back(*inputs[i]);
      wanted = wanted || inputs[i]->requires_grad();
    }
    // A new TensorImpl over the same storage, so that the caller's `value` keeps no history.
    at::Tensor result = value->detach();
    if (wanted && at::GradMode::is_enabled()) {
      node->set_next_edges(torch::autograd::collect_next_edges(list));
      torch::autograd::set_history(result, node);
    }
    *out = new at::Tensor(std::move(result));
    return nullptr;
  } catch (const std::exception &e) {
    return tp_message(e);
  }
}

}  // extern "C"
