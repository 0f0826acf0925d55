// The C++ side of tch-parity: what tch does not expose. libtorch's C++ optimizers with their
// state readable, libtorch's Adagrad, and the fused CPU optimizer kernels. Compiled by build.rs
// against the same libtorch headers as torch-sys. Tensors cross as `at::Tensor*`, which is
// what tch's C_tensor points to. Every function catches C++ exceptions and returns the
// message (free it with tp_free_string), or NULL on success, so nothing aborts the process.

#include <ATen/ATen.h>
#include <c10/util/Logging.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim.h>
#include <torch/optim/schedulers/reduce_on_plateau_scheduler.h>
#include <torch/optim/schedulers/step_lr.h>

#include "message.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// Which C++ optimizer; the values of ffi::OptimizerKind on the Rust side.
enum tp_kind { TP_SGD = 0, TP_ADAM = 1, TP_ADAMW = 2, TP_RMSPROP = 3, TP_ADAGRAD = 4, TP_LBFGS = 5 };

// One parameter group's hyperparameters, marshalled once by the Rust side (reference/optim.rs).
struct tp_hyper {
  int kind;
  double lr, momentum, dampening, weight_decay, beta1, beta2, eps, alpha, lr_decay,
      initial_accumulator_value;
  int nesterov, amsgrad, centered;
  // LBFGS's; max_eval < 0 is None.
  int64_t max_iter, max_eval, history_size;
  double tolerance_grad, tolerance_change;
  int strong_wolfe;
};

struct tp_optimizer {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<at::Tensor> params;
};

// The body may contain commas (braces do not protect them from the preprocessor).
#define TP_GUARD(...)                 \
  try {                               \
    __VA_ARGS__;                      \
    return nullptr;                   \
  } catch (const std::exception &e) { \
    return tp_message(e);             \
  }

static std::vector<at::Tensor> tp_list(at::Tensor **ts, int n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) out.push_back(*ts[i]);
  return out;
}

// AdamOptions and AdamWOptions are distinct types with the same setters.
template <class Options>
static std::unique_ptr<torch::optim::OptimizerOptions> tp_adam_options(const tp_hyper &h) {
  return std::make_unique<Options>(Options(h.lr)
                                       .betas(std::make_tuple(h.beta1, h.beta2))
                                       .eps(h.eps)
                                       .weight_decay(h.weight_decay)
                                       .amsgrad(h.amsgrad != 0));
}

static std::unique_ptr<torch::optim::OptimizerOptions> tp_options(const tp_hyper &h) {
  switch (h.kind) {
    case TP_SGD:
    return std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(h.lr)
                                                          .momentum(h.momentum)
                                                          .dampening(h.dampening)
                                                          .weight_decay(h.weight_decay)
                                                          .nesterov(h.nesterov != 0));
    case TP_ADAM:
      return tp_adam_options<torch::optim::AdamOptions>(h);
    case TP_ADAMW:
      return tp_adam_options<torch::optim::AdamWOptions>(h);
    case TP_RMSPROP:
    return std::make_unique<torch::optim::RMSpropOptions>(torch::optim::RMSpropOptions(h.lr)
                                                              .alpha(h.alpha)
                                                              .eps(h.eps)
                                                              .weight_decay(h.weight_decay)
                                                              .momentum(h.momentum)
                                                              .centered(h.centered != 0));
    case TP_ADAGRAD:
      return std::make_unique<torch::optim::AdagradOptions>(
          torch::optim::AdagradOptions(h.lr)
              .lr_decay(h.lr_decay)
              .weight_decay(h.weight_decay)
              .initial_accumulator_value(h.initial_accumulator_value)
              .eps(h.eps));
    case TP_LBFGS: {
      auto o = torch::optim::LBFGSOptions(h.lr)
                   .max_iter(h.max_iter)
                   .tolerance_grad(h.tolerance_grad)
                   .tolerance_change(h.tolerance_change)
                   .history_size(h.history_size);
      // LBFGS's constructor fills a missing max_eval into its defaults, but a group's options
      // set afterwards (exact_groups) would leave it missing, and step() reads it unchecked.
      o.max_eval(h.max_eval >= 0 ? h.max_eval : h.max_iter * 5 / 4);
      if (h.strong_wolfe != 0) o.line_search_fn("strong_wolfe");
      return std::make_unique<torch::optim::LBFGSOptions>(o);
    }
  }
  throw std::invalid_argument("unknown optimizer kind " + std::to_string(h.kind));
}

template <class O, class Options>
static std::unique_ptr<torch::optim::Optimizer> tp_make(std::vector<torch::optim::OptimizerParamGroup> groups,
                                                        const torch::optim::OptimizerOptions &defaults) {
  return std::make_unique<O>(std::move(groups), static_cast<const Options &>(defaults));
}

extern "C" {

void tp_free_string(char *s) { std::free(s); }

// Every c10::Error captures a C++ backtrace, and reading its message (what()) symbolises it with
// dladdr over libtorch's hundreds of thousands of symbols: milliseconds per error, a quarter of
// a whole `check` (which provokes hundreds of them on purpose). The messages callers see are cut
// before the backtrace anyway.
void tp_skip_cpp_backtraces() {
  c10::SetStackTraceFetcher([]() -> c10::Backtrace {
    return std::make_shared<c10::PrecomputedLazyValue<std::string>>(std::string("(backtrace not captured)"));
  });
}

// Groups: hypers[g] for group g; group_of[i] is the group of params[i].
//
// libtorch merges each group's options with the optimizer's defaults by comparison: a field
// equal to the options class's own default (weight_decay 0, say) counts as unset and takes the
// optimizer default (the first group's here). With exact_groups set, every group's options are
// assigned again after construction, so each group has exactly the options given, as in
// torch.optim and as tch's per-group setters leave them.
char *tp_optimizer_new(const tp_hyper *hypers, int n_groups, at::Tensor **params, const int *group_of, int n_params,
                       int exact_groups, tp_optimizer **out) {
  TP_GUARD({
    std::vector<torch::optim::OptimizerParamGroup> groups;
    for (int g = 0; g < n_groups; ++g) {
      std::vector<at::Tensor> members;
      for (int i = 0; i < n_params; ++i)
        if (group_of[i] == g) members.push_back(*params[i]);
      TORCH_CHECK(hypers[g].kind == hypers[0].kind, "parameter groups of different optimizers");
      groups.emplace_back(members, tp_options(hypers[g]));
    }
    auto defaults = tp_options(hypers[0]);
    auto o = std::make_unique<tp_optimizer>();
    o->params = tp_list(params, n_params);
    switch (hypers[0].kind) {
      case TP_SGD:
        o->optimizer = tp_make<torch::optim::SGD, torch::optim::SGDOptions>(groups, *defaults);
        break;
      case TP_ADAM:
        o->optimizer = tp_make<torch::optim::Adam, torch::optim::AdamOptions>(groups, *defaults);
        break;
      case TP_ADAMW:
        o->optimizer = tp_make<torch::optim::AdamW, torch::optim::AdamWOptions>(groups, *defaults);
        break;
      case TP_RMSPROP:
        o->optimizer = tp_make<torch::optim::RMSprop, torch::optim::RMSpropOptions>(groups, *defaults);
        break;
      case TP_ADAGRAD:
        o->optimizer = tp_make<torch::optim::Adagrad, torch::optim::AdagradOptions>(groups, *defaults);
        break;
      case TP_LBFGS:
        o->optimizer = tp_make<torch::optim::LBFGS, torch::optim::LBFGSOptions>(groups, *defaults);
        break;
    }
    if (exact_groups)
      for (int g = 0; g < n_groups; ++g) o->optimizer->param_groups()[g].set_options(tp_options(hypers[g]));
    *out = o.release();
  })
}

void tp_optimizer_free(tp_optimizer *o) { delete o; }

char *tp_optimizer_step(tp_optimizer *o) { TP_GUARD(o->optimizer->step()) }

// A step with a closure (LBFGS's): the closure is the Rust side's, which sets the parameters'
// gradients and writes the loss; a nonzero return is its failure (the Rust side keeps why).
typedef int (*tp_closure)(void *context, double *loss);
char *tp_optimizer_step_closure(tp_optimizer *o, tp_closure closure, void *context) {
  TP_GUARD(o->optimizer->step([&]() -> at::Tensor {
    double loss = 0;
    if (closure(context, &loss) != 0) throw std::runtime_error("the closure failed");
    return at::scalar_tensor(loss, at::kDouble);
  }))
}

char *tp_optimizer_set_lr(tp_optimizer *o, int group, double lr) {
  TP_GUARD({
    auto &groups = o->optimizer->param_groups();
    TORCH_CHECK(group >= 0 && group < static_cast<int>(groups.size()), "no parameter group ", group);
    groups[group].options().set_lr(lr);
  })
}

// The named state buffer of params[index], cloned into *out (NULL when it does not exist yet).
// Steps are returned as int64 scalars.
char *tp_optimizer_state(tp_optimizer *o, int index, const char *name, at::Tensor **out) {
  TP_GUARD({
    *out = nullptr;
    auto &state = o->optimizer->state();
    auto found = state.find(o->params.at(index).unsafeGetTensorImpl());
    if (found == state.end()) return nullptr;
    auto *s = found->second.get();
    std::string n = name;
    at::Tensor t;
    if (auto *a = dynamic_cast<torch::optim::AdamParamState *>(s)) {
      if (n == "step") t = at::scalar_tensor(a->step(), at::kLong);
      if (n == "exp_avg") t = a->exp_avg();
      if (n == "exp_avg_sq") t = a->exp_avg_sq();
      if (n == "max_exp_avg_sq") t = a->max_exp_avg_sq();
    } else if (auto *w = dynamic_cast<torch::optim::AdamWParamState *>(s)) {
      if (n == "step") t = at::scalar_tensor(w->step(), at::kLong);
      if (n == "exp_avg") t = w->exp_avg();
      if (n == "exp_avg_sq") t = w->exp_avg_sq();
      if (n == "max_exp_avg_sq") t = w->max_exp_avg_sq();
    } else if (auto *g = dynamic_cast<torch::optim::SGDParamState *>(s)) {
      if (n == "momentum_buffer") t = g->momentum_buffer();
    } else if (auto *r = dynamic_cast<torch::optim::RMSpropParamState *>(s)) {
      if (n == "step") t = at::scalar_tensor(r->step(), at::kLong);
      if (n == "square_avg") t = r->square_avg();
      if (n == "momentum_buffer") t = r->momentum_buffer();
      if (n == "grad_avg") t = r->grad_avg();
    } else if (auto *d = dynamic_cast<torch::optim::AdagradParamState *>(s)) {
      if (n == "step") t = at::scalar_tensor(d->step(), at::kLong);
      if (n == "sum") t = d->sum();
    } else if (auto *l = dynamic_cast<torch::optim::LBFGSParamState *>(s)) {
      if (n == "func_evals") t = at::scalar_tensor(l->func_evals(), at::kLong);
      if (n == "n_iter") t = at::scalar_tensor(l->n_iter(), at::kLong);
      if (n == "t") t = at::scalar_tensor(l->t(), at::kDouble);
      if (n == "prev_loss") t = at::scalar_tensor(l->prev_loss(), at::kDouble);
      if (n == "d") t = l->d();
      if (n == "H_diag") t = l->H_diag();
      if (n == "prev_flat_grad") t = l->prev_flat_grad();
    }
    if (t.defined()) *out = new at::Tensor(t.detach().clone());
  })
}

// Sets a tensor's .grad to a copy of `grad`, as the optimizers read it.
// An undefined gradient clears the parameter's: Python's `p.grad = None`, which optimizers skip.
char *tp_set_grad(at::Tensor *param, at::Tensor *grad) {
  TP_GUARD(param->mutable_grad() = grad->defined() ? grad->detach().clone() : at::Tensor())
}

char *tp_fused_sgd(at::Tensor **params, at::Tensor **grads, at::Tensor **momentum_buffers, int n, double weight_decay,
                   double momentum, double lr, double dampening, int nesterov, int maximize, int is_first_step) {
  TP_GUARD(at::_fused_sgd_(tp_list(params, n), tp_list(grads, n),
                           momentum == 0 ? std::vector<at::Tensor>{} : tp_list(momentum_buffers, n), weight_decay,
                           momentum, lr, dampening, nesterov != 0, maximize != 0, is_first_step != 0))
}

// adamw != 0 selects _fused_adamw_ (decoupled weight decay). Steps are float tensors that the
// caller increments before the call, as torch.optim does.
char *tp_fused_adam(at::Tensor **params, at::Tensor **grads, at::Tensor **exp_avgs, at::Tensor **exp_avg_sqs,
                    at::Tensor **max_exp_avg_sqs, at::Tensor **steps, int n, double lr, double beta1, double beta2,
                    double weight_decay, double eps, int amsgrad, int maximize, int adamw) {
  TP_GUARD({
    auto maxes = amsgrad ? tp_list(max_exp_avg_sqs, n) : std::vector<at::Tensor>{};
    if (adamw)
      at::_fused_adamw_(tp_list(params, n), tp_list(grads, n), tp_list(exp_avgs, n), tp_list(exp_avg_sqs, n), maxes,
                        tp_list(steps, n), lr, beta1, beta2, weight_decay, eps, amsgrad != 0, maximize != 0);
    else
      at::_fused_adam_(tp_list(params, n), tp_list(grads, n), tp_list(exp_avgs, n), tp_list(exp_avg_sqs, n), maxes,
                       tp_list(steps, n), lr, beta1, beta2, weight_decay, eps, amsgrad != 0, maximize != 0);
  })
}

char *tp_fused_adagrad(at::Tensor **params, at::Tensor **grads, at::Tensor **state_sums, at::Tensor **steps, int n,
                       double lr, double lr_decay, double weight_decay, double eps, int maximize) {
  TP_GUARD(at::_fused_adagrad_(tp_list(params, n), tp_list(grads, n), tp_list(state_sums, n), tp_list(steps, n), lr,
                               lr_decay, weight_decay, eps, maximize != 0))
}

// at::multi_margin_loss, which tch does not expose; through the dispatcher, so autograd records
// it like any other op. weight may be NULL.
char *tp_multi_margin_loss(at::Tensor *input, at::Tensor *target, int64_t p, double margin, at::Tensor *weight,
                           int64_t reduction, at::Tensor **out) {
  TP_GUARD({
    std::optional<at::Tensor> w;
    if (weight) w = *weight;
    *out = new at::Tensor(at::multi_margin_loss(*input, *target, p, margin, w, reduction));
  })
}

// Pointwise primitives with the scalar argument that tch's generated bindings drop. They are
// not losses or optimizers: the hand-written optimizers use them to round as libtorch does.
char *tp_add_scaled_(at::Tensor *self, at::Tensor *other, double alpha) { TP_GUARD(self->add_(*other, alpha)) }
char *tp_add_scaled(at::Tensor *self, at::Tensor *other, double alpha, at::Tensor **out) {
  TP_GUARD(*out = new at::Tensor(self->add(*other, alpha)))
}
// `self *= factor` as Python code writes it: a Python float reaches mul_ as a wrapped-number
// tensor, which keeps the factor at float precision in float16 and bfloat16 arithmetic, where
// mul_(Scalar), C++'s `self.mul_(factor)`, rounds it to self's dtype first.
char *tp_mul_wrapped_(at::Tensor *self, double factor) {
  TP_GUARD({
    at::Tensor wrapped = at::scalar_tensor(factor, at::kDouble);
    wrapped.unsafeGetTensorImpl()->set_wrapped_number(true);
    self->mul_(wrapped);
  })
}
char *tp_addcmul_(at::Tensor *self, at::Tensor *a, at::Tensor *b, double value) { TP_GUARD(self->addcmul_(*a, *b, value)) }
char *tp_addcdiv_(at::Tensor *self, at::Tensor *a, at::Tensor *b, double value) { TP_GUARD(self->addcdiv_(*a, *b, value)) }
char *tp_vector_norm(at::Tensor *self, double ord, const int64_t *dims, int ndims, int keepdim, at::Tensor **out) {
  TP_GUARD(*out = new at::Tensor(ndims < 0 ? at::linalg_vector_norm(*self, ord, std::nullopt, keepdim != 0)
                                           : at::linalg_vector_norm(*self, ord, at::IntArrayRef(dims, ndims), keepdim != 0)))
}
char *tp_addmm(at::Tensor *self, at::Tensor *a, at::Tensor *b, double beta, double alpha, at::Tensor **out) {
  TP_GUARD(*out = new at::Tensor(self->addmm(*a, *b, beta, alpha)))
}

// libtorch's C++ learning-rate schedulers over an SGD optimizer of `groups` groups (one
// parameter each) at rates `lrs`. `out` receives every group's rate after construction and
// after each of `steps` steps: (steps + 1) * groups values.
static std::unique_ptr<torch::optim::SGD> tp_sgd_groups(const double *lrs, int groups, std::vector<at::Tensor> &params) {
  std::vector<torch::optim::OptimizerParamGroup> list;
  for (int g = 0; g < groups; ++g) {
    params.push_back(at::zeros({1}).requires_grad_(true));
    list.emplace_back(std::vector<at::Tensor>{params.back()},
                      std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(lrs[g])));
  }
  return std::make_unique<torch::optim::SGD>(list, torch::optim::SGDOptions(lrs[0]));
}

static void tp_read_lrs(torch::optim::Optimizer &o, double *out) {
  auto &groups = o.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) out[g] = groups[g].options().get_lr();
}

// StepLR. `initial_step`: step once right after construction, as torch.optim's constructor
// does (libtorch's does not, so without it every decay comes one step later than in Python).
char *tp_step_lr(const double *lrs, int groups, int64_t step_size, double gamma, int initial_step, int steps,
                 double *out) {
  TP_GUARD({
    std::vector<at::Tensor> params;
    auto sgd = tp_sgd_groups(lrs, groups, params);
    torch::optim::StepLR scheduler(*sgd, static_cast<unsigned>(step_size), gamma);
    if (initial_step) scheduler.step();
    tp_read_lrs(*sgd, out);
    for (int k = 1; k <= steps; ++k) {
      scheduler.step();
      tp_read_lrs(*sgd, out + k * groups);
    }
  })
}

// ReduceLROnPlateauScheduler, given metrics[k - 1] at step k. min_lrs may be NULL (zeros);
// factor, min_lrs and the metrics are float in libtorch's API.
char *tp_reduce_on_plateau(const double *lrs, int groups, int max_mode, double factor, int patience, double threshold,
                           int abs_threshold, int cooldown, const double *min_lrs, double eps, const double *metrics,
                           int steps, double *out) {
  TP_GUARD({
    using S = torch::optim::ReduceLROnPlateauScheduler;
    std::vector<at::Tensor> params;
    auto sgd = tp_sgd_groups(lrs, groups, params);
    std::vector<float> floors;
    if (min_lrs)
      for (int g = 0; g < groups; ++g) floors.push_back(static_cast<float>(min_lrs[g]));
    S scheduler(*sgd, max_mode ? S::max : S::min, static_cast<float>(factor), patience, threshold,
                abs_threshold ? S::abs : S::rel, cooldown, floors, eps);
    tp_read_lrs(*sgd, out);
    for (int k = 1; k <= steps; ++k) {
      scheduler.step(static_cast<float>(metrics[k - 1]));
      tp_read_lrs(*sgd, out + k * groups);
    }
  })
}

// torch::nn::utils::clip_grad_norm_ and clip_grad_value_ over parameters whose gradients are set.
char *tp_clip_grad_norm(at::Tensor **params, int n, double max_norm, double norm_type, int error_if_nonfinite,
                        double *total) {
  TP_GUARD(*total = torch::nn::utils::clip_grad_norm_(tp_list(params, n), max_norm, norm_type, error_if_nonfinite != 0))
}
char *tp_clip_grad_value(at::Tensor **params, int n, double clip_value) {
  TP_GUARD(torch::nn::utils::clip_grad_value_(tp_list(params, n), clip_value))
}

// at::_amp_foreach_non_finite_check_and_unscale_ (which tch does not expose): every gradient
// times inv_scale in place, found_inf set to 1 if any element is inf or NaN.
char *tp_amp_non_finite_check_and_unscale(at::Tensor **grads, int n, at::Tensor *found_inf, at::Tensor *inv_scale) {
  TP_GUARD(at::_amp_foreach_non_finite_check_and_unscale_(tp_list(grads, n), *found_inf, *inv_scale))
}

}  // extern "C"
