//! A user-defined autograd function for tch: a tensor whose backward is a Rust closure, through
//! one generic C++ node (`autograd.cpp`). tch has no `torch.autograd.Function`; this is its
//! equivalent, for gradients that autograd through primitives would get wrong (at kinks, clamps,
//! overflow) or compute in another order than libtorch's backward kernels.
//!
//! The closure receives the upstream gradient and returns one gradient per input. It runs inside
//! libtorch's autograd engine, which records its operations when the backward pass was asked to
//! `create_graph`: a closure that computes from the attached inputs gives a gradient that is
//! itself differentiable (double backward). One that computes from detached copies gives a
//! gradient whose own gradient is zero, so the loss code decides, per formula, which it gives.

use super::check;
use crate::error::{Error, Result};
use std::ffi::{c_char, c_int, c_void, CString};
use tch::Tensor;

type CTensor = *mut torch_sys::C_tensor;
type BackwardFn = dyn Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send;

/// What the node holds: the closure, and how many gradients it must return.
struct Context {
    inputs: usize,
    backward: Box<BackwardFn>,
}

extern "C" {
    fn tp_rust_backward(
        name: *const c_char,
        value: CTensor,
        inputs: *const CTensor,
        n: c_int,
        backward: extern "C" fn(*mut c_void, CTensor, *mut CTensor, *mut c_void) -> c_int,
        drop: extern "C" fn(*mut c_void),
        context: *mut c_void,
        out: *mut CTensor,
    ) -> *mut c_char;
    fn tp_error_set(error: *mut c_void, text: *const c_char, len: usize);
    fn tp_grad_enabled() -> c_int;
    fn tp_cpu_capability() -> c_int;
    fn tp_parallel_for(n: i64, grain: i64, body: extern "C" fn(*mut c_void, i64, i64), context: *mut c_void);
}

/// Runs `body(begin, end)` over `0..n` on libtorch's intra-op thread pool, in chunks of at
/// least `grain` elements, as `at::parallel_for` splits libtorch's own kernels (one chunk, on
/// this thread, below `grain`). A panic in `body` is raised again here once every chunk is done.
pub fn parallel_for(n: usize, grain: usize, body: impl Fn(usize, usize) + Sync) {
    struct Job<'a> {
        body: &'a (dyn Fn(usize, usize) + Sync),
        panicked: std::sync::atomic::AtomicBool,
    }
    extern "C" fn trampoline(context: *mut c_void, begin: i64, end: i64) {
        // SAFETY: the shim calls back with the pointer given below, during this call.
        let job = unsafe { &*(context as *const Job) };
        let run = std::panic::AssertUnwindSafe(|| (job.body)(begin as usize, end as usize));
        if std::panic::catch_unwind(run).is_err() {
            job.panicked.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let job = Job { body: &body, panicked: false.into() };
    // SAFETY: `job` outlives the call, which returns once every chunk has run.
    unsafe { tp_parallel_for(n as i64, grain as i64, trampoline, &job as *const Job as *mut c_void) };
    if job.panicked.into_inner() {
        panic!("a parallel_for body panicked");
    }
}

/// The instructions libtorch's CPU kernels run on this machine (`at::get_cpu_capability`,
/// which `ATEN_CPU_CAPABILITY` can lower). Reproducing a vectorized kernel to the bit needs it:
/// its vector width decides which elements a scalar tail takes, and its reductions combine lanes
/// with shuffles only in the SIMD builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Avx512,
    Avx2,
    /// at::vec's plain C++ build: 32-byte arrays, each lane computed by the C library.
    Default,
}

pub fn cpu_capability() -> Capability {
    static CAPABILITY: std::sync::OnceLock<Capability> = std::sync::OnceLock::new();
    // SAFETY: reads libtorch's CPU capability, a string it computes once.
    *CAPABILITY.get_or_init(|| match unsafe { tp_cpu_capability() } {
        2 => Capability::Avx512,
        1 => Capability::Avx2,
        _ => Capability::Default,
    })
}

impl Capability {
    /// The capability of a kernel libtorch registers for AVX2 at most (most elementwise ones; a
    /// few, such as softmax's, are compiled for AVX-512 as well).
    pub fn at_most_avx2(self) -> Capability {
        match self {
            Capability::Avx512 => Capability::Avx2,
            other => other,
        }
    }
}

/// The width in bytes of libtorch's `at::vec::Vectorized`: 64 with AVX-512, 32 otherwise.
pub fn vector_bytes() -> usize {
    match cpu_capability() {
        Capability::Avx512 => 64,
        _ => 32,
    }
}

/// Whether autograd records operations at this point (libtorch's `GradMode::is_enabled`). Inside
/// a backward closure: whether the backward pass was asked to `create_graph`, i.e. whether the
/// gradient it returns must itself be differentiable.
pub fn grad_enabled() -> bool {
    // SAFETY: reads a thread-local flag.
    unsafe { tp_grad_enabled() != 0 }
}

/// `value`, carrying a backward pass: for an upstream gradient `g` of `value`'s shape,
/// `backward(g)` returns one entry per `inputs[i]`, its gradient (of the input's shape, or one
/// that sums to it over broadcast dimensions, as libtorch's engine sums it; cast to the input's
/// dtype) or `None` for no gradient.
///
/// `name` names the node (`grad_fn`) in libtorch's messages, e.g. "SmoothL1LossBackward". The
/// closure is kept until the first backward without `retain_graph`, then dropped with what it
/// captured; a second backward is libtorch's "Trying to backward through the graph a second
/// time". Without grad mode, or when no input requires a gradient, no node is made and the
/// closure is dropped at once. An error or a panic in the closure fails the backward pass with
/// its message.
pub fn with_backward<F>(name: &str, value: &Tensor, inputs: &[&Tensor], backward: F) -> Result<Tensor>
where
    F: Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + 'static,
{
    let name = CString::new(name).map_err(|_| Error::InvalidArgument(format!("node name {name:?} has a NUL")))?;
    let raw: Vec<CTensor> = inputs.iter().map(|t| t.as_ptr() as CTensor).collect();
    let context = Box::new(Context { inputs: inputs.len(), backward: Box::new(backward) });
    let context = Box::into_raw(context) as *mut c_void;
    let mut out: CTensor = std::ptr::null_mut();
    // SAFETY: the shim takes ownership of `context` (dropping it through `drop_context`) whether
    // or not it succeeds; the tensor pointers are borrowed for the call only.
    check(unsafe {
        tp_rust_backward(
            name.as_ptr(),
            value.as_ptr() as CTensor,
            raw.as_ptr(),
            raw.len() as c_int,
            run_backward,
            drop_context,
            context,
            &mut out,
        )
    })?;
    // SAFETY: on success the shim allocated a new at::Tensor for us to own.
    Ok(unsafe { Tensor::from_ptr(out) })
}

extern "C" fn run_backward(context: *mut c_void, upstream: CTensor, grads: *mut CTensor, error: *mut c_void) -> c_int {
    // SAFETY: the node passes the context it was given, alive until `drop_context`, and a new
    // at::Tensor for the upstream gradient that is ours to own.
    let context = unsafe { &*(context as *const Context) };
    let upstream = unsafe { Tensor::from_ptr(upstream) };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (context.backward)(&upstream)));
    let message = match outcome {
        Ok(Ok(list)) if list.len() != context.inputs => {
            format!("the backward closure returned {} gradients for {} inputs", list.len(), context.inputs)
        }
        Ok(Ok(list)) => {
            for (i, grad) in list.into_iter().enumerate() {
                if let Some(mut grad) = grad {
                    // SAFETY: the node gave room for one pointer per input (the count is checked
                    // above); each pointer it receives is an at::Tensor it then owns and frees.
                    unsafe { *grads.add(i) = grad.as_mut_ptr() };
                    std::mem::forget(grad);
                }
            }
            return 0;
        }
        Ok(Err(e)) => e.to_string(),
        Err(panic) => panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .map_or_else(|| "the backward closure panicked".to_owned(), |s| format!("panicked: {s}")),
    };
    // SAFETY: `error` is the node's std::string, written through the shim.
    unsafe { tp_error_set(error, message.as_ptr() as *const c_char, message.len()) };
    1
}

extern "C" fn drop_context(context: *mut c_void) {
    // SAFETY: called once by the node, with the pointer made by Box::into_raw in `with_backward`.
    drop(unsafe { Box::from_raw(context as *mut Context) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tch::Kind;

    #[test]
    fn parallel_for_covers_every_index_once_on_libtorch_threads_and_raises_a_panic_again() {
        let n = 5 * 32768 + 7;
        let seen: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
        let chunks = AtomicUsize::new(0);
        parallel_for(n, 32768, |begin, end| {
            chunks.fetch_add(1, Ordering::Relaxed);
            for count in &seen[begin..end] {
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
        assert!(seen.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        // Split as libtorch splits its own kernels: one chunk per thread when there is work
        // enough, one chunk on this thread below the grain.
        let threads = tch::get_num_threads().max(1) as usize;
        assert_eq!(chunks.load(Ordering::Relaxed), threads.min(6));
        let small = AtomicUsize::new(0);
        parallel_for(100, 32768, |_, _| {
            small.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(small.load(Ordering::Relaxed), 1);
        let panicked = std::panic::catch_unwind(|| parallel_for(n, 32768, |_, _| panic!("inside")));
        assert!(panicked.is_err());
    }

    fn values(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
    }

    /// `x³` with its derivative `3x²` written out, computed from the attached `x`.
    fn cube(x: &Tensor) -> Tensor {
        let attached = x.shallow_clone();
        with_backward("CubeBackward", &x.detach().pow_tensor_scalar(3), &[x], move |g| {
            Ok(vec![Some(g * attached.square() * 3.0)])
        })
        .unwrap()
    }

    #[test]
    fn the_closure_gives_the_gradient_and_autograd_records_it_for_double_backward() {
        let x = Tensor::from_slice(&[1.0f64, -2.0, 0.5]).set_requires_grad(true);
        let y = cube(&x);
        assert_eq!(values(&y), [1.0, -8.0, 0.125]);
        assert!(y.requires_grad());
        let v = Tensor::from_slice(&[1.0f64, 0.5, -1.0]);
        let g = Tensor::run_backward(&[(&y * &v).sum(Kind::Double)], &[&x], true, true);
        assert_eq!(values(&g[0]), [3.0, 6.0, -0.75]); // 3x²·v
                                                      // d/dx Σ g·w = 6x·v·w
        let w = Tensor::from_slice(&[2.0f64, 1.0, 4.0]);
        let h = Tensor::run_backward(&[(&g[0] * &w).sum(Kind::Double)], &[&x], false, false);
        assert_eq!(values(&h[0]), [12.0, -6.0, -12.0]);
    }

    #[test]
    fn a_broadcast_input_receives_the_gradient_summed_over_the_broadcast_dimensions() {
        let row = Tensor::from_slice(&[1.0f32, 2.0]).set_requires_grad(true);
        let value = Tensor::zeros([3, 2], (Kind::Float, tch::Device::Cpu));
        let y = with_backward("RowBackward", &value, &[&row], |g| Ok(vec![Some(g.shallow_clone())])).unwrap();
        let g = Tensor::run_backward(&[y.sum(Kind::Float)], &[&row], false, false);
        assert_eq!(values(&g[0]), [3.0, 3.0]);
    }

    #[test]
    fn the_closure_is_dropped_after_one_backward_and_a_second_backward_is_refused() {
        let drops = Arc::new(AtomicUsize::new(0));
        struct Count(Arc<AtomicUsize>);
        impl Drop for Count {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let x = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let counted = Count(drops.clone());
        let y = with_backward("CountedBackward", &x.detach(), &[&x], move |g| {
            let _ = &counted;
            Ok(vec![Some(g.shallow_clone())])
        })
        .unwrap();
        y.f_backward().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        let again = y.f_backward().unwrap_err().to_string();
        assert!(again.contains("Trying to backward through CountedBackward a second time"), "{again}");
    }

    #[test]
    fn an_error_or_a_panic_in_the_closure_fails_the_backward_pass_with_its_message() {
        let x = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let refusing = with_backward("RefusingBackward", &x.detach(), &[&x], |_| {
            Err(Error::InvalidArgument("no double backward here".into()))
        })
        .unwrap();
        let message = refusing.f_backward().unwrap_err().to_string();
        assert!(message.contains("RefusingBackward: invalid argument: no double backward here"), "{message}");
        let panicking = with_backward("PanickingBackward", &x.detach(), &[&x], |_| panic!("boom")).unwrap();
        let message = panicking.f_backward().unwrap_err().to_string();
        assert!(message.contains("PanickingBackward: panicked: boom"), "{message}");
        let miscounted = with_backward("MiscountedBackward", &x.detach(), &[&x], |_| Ok(vec![])).unwrap();
        let message = miscounted.f_backward().unwrap_err().to_string();
        assert!(message.contains("returned 0 gradients for 1 inputs"), "{message}");
    }

    #[test]
    fn without_an_input_that_needs_a_gradient_there_is_no_node() {
        let x = Tensor::from_slice(&[1.0f32]);
        let y = with_backward("UnusedBackward", &x, &[&x], |_| unreachable!()).unwrap();
        assert!(!y.requires_grad());
        let x = x.set_requires_grad(true);
        let y = tch::no_grad(|| with_backward("UnusedBackward", &x.detach(), &[&x], |_| unreachable!())).unwrap();
        assert!(!y.requires_grad());
    }
}
