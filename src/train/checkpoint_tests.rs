//! Checkpoints that do not fit: each is refused with a message naming what does not match, and
//! the optimizer keeps its state.

use super::*;
use crate::optim::{Adam, AdamOptions, Sgd, SgdOptions};
use tch::Kind;

fn leaf(values: &[f64], kind: Kind) -> Tensor {
    Tensor::from_slice(values).to_kind(kind).set_requires_grad(true)
}

/// An Adam over `params` after one step with gradient 1 everywhere.
fn stepped_adam(params: Vec<Tensor>) -> Adam {
    let mut adam = Adam::new(params.iter().map(Tensor::shallow_clone).collect(), AdamOptions::default()).unwrap();
    for p in &params {
        crate::ffi::set_grad(p, &p.ones_like()).unwrap();
    }
    adam.step().unwrap();
    adam
}

fn exp_avg(adam: &Adam) -> Vec<f64> {
    Vec::<f64>::try_from(&adam.state(0, 0)[1].1.to_kind(Kind::Double)).unwrap()
}

fn refused(result: Result<()>, words: &str) {
    match result {
        Err(e) => assert!(e.to_string().contains(words), "{e} (expected it to say {words:?})"),
        Ok(()) => panic!("accepted (expected an error saying {words:?})"),
    }
}

#[test]
fn another_optimizers_checkpoint_is_refused() {
    let sgd = Sgd::new(vec![leaf(&[1.0], Kind::Float)], SgdOptions { momentum: 0.9, ..Default::default() }).unwrap();
    let checkpoint = Checkpoint::of(&sgd, None).unwrap();
    let mut adam = stepped_adam(vec![leaf(&[1.0], Kind::Float)]);
    let before = exp_avg(&adam);
    refused(checkpoint.restore(&mut adam, None), "the checkpoint is for SGD, not Adam");
    assert_eq!(exp_avg(&adam), before);
}

#[test]
fn another_parameter_count_or_shape_is_refused() {
    let two = stepped_adam(vec![leaf(&[1.0], Kind::Float), leaf(&[2.0], Kind::Float)]);
    let checkpoint = Checkpoint::of(&two, None).unwrap();
    let mut one = stepped_adam(vec![leaf(&[1.0], Kind::Float)]);
    refused(checkpoint.restore(&mut one, None), "the checkpoint has 2 parameters, the optimizer 1");
    let mut longer = stepped_adam(vec![leaf(&[1.0, 2.0], Kind::Float), leaf(&[2.0], Kind::Float)]);
    let before = exp_avg(&longer);
    refused(checkpoint.restore(&mut longer, None), "parameter 0 is Float [1] in the checkpoint, Float [2] here");
    assert_eq!(exp_avg(&longer), before);
}

#[test]
fn a_missing_or_extra_buffer_is_refused_and_nothing_changes() {
    let saved = stepped_adam(vec![leaf(&[1.0, 2.0], Kind::Float)]);
    let mut missing = Checkpoint::of(&saved, None).unwrap();
    missing.optimizer.state.get_mut(&0).unwrap().retain(|(n, _)| n != "exp_avg_sq");
    let mut target = stepped_adam(vec![leaf(&[5.0, 6.0], Kind::Float)]);
    let before = exp_avg(&target);
    refused(missing.restore(&mut target, None), "state 0 has no exp_avg_sq");
    assert_eq!(exp_avg(&target), before);
    let mut extra = Checkpoint::of(&saved, None).unwrap();
    extra.optimizer.state.get_mut(&0).unwrap().push(("bogus".into(), StateValue::Tensor(Tensor::from(1.0f32))));
    refused(extra.restore(&mut target, None), "state 0 has an unexpected buffer bogus");
    assert_eq!(exp_avg(&target), before);
}

#[test]
fn a_wrong_dtype_is_refused() {
    let saved = stepped_adam(vec![leaf(&[1.0, 2.0], Kind::Float)]);
    let mut checkpoint = Checkpoint::of(&saved, None).unwrap();
    checkpoint.params.clear();
    let mut double = stepped_adam(vec![leaf(&[1.0, 2.0], Kind::Double)]);
    refused(checkpoint.restore(&mut double, None), "state 0's exp_avg is Float, its parameter is Double");
}

#[test]
fn a_truncated_or_corrupt_file_is_refused() {
    let saved = stepped_adam(vec![leaf(&[1.0, 2.0], Kind::Float)]);
    let bytes = Checkpoint::of(&saved, None).unwrap().to_bytes().unwrap();
    assert!(Checkpoint::from_bytes(&bytes).is_ok());
    let truncated = Checkpoint::from_bytes(&bytes[..bytes.len() - 5]).expect_err("truncated");
    assert!(truncated.to_string().contains("not a safetensors file"), "{truncated}");
    let mut corrupt = bytes.clone();
    corrupt[10] = b'#';
    let corrupt = Checkpoint::from_bytes(&corrupt).expect_err("corrupt");
    assert!(corrupt.to_string().contains("not a safetensors file"), "{corrupt}");
}

#[test]
fn saving_replaces_the_old_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let first = stepped_adam(vec![leaf(&[1.0], Kind::Float)]);
    Checkpoint::of(&first, None).unwrap().save(&path).unwrap();
    // A reader of the old file keeps reading the old bytes: the new ones go to another file,
    // renamed over it (so a crash mid-save leaves the old checkpoint whole).
    let old = std::fs::File::open(&path).unwrap();
    let old_len = old.metadata().unwrap().len();
    let second = stepped_adam(vec![leaf(&[1.0, 2.0, 3.0, 4.0], Kind::Float)]);
    Checkpoint::of(&second, None).unwrap().save(&path).unwrap();
    assert_eq!(old.metadata().unwrap().len(), old_len);
    assert_ne!(std::fs::metadata(&path).unwrap().len(), old_len);
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "no temporary file is left behind");
}

#[test]
fn torch_names_and_pairs_go_both_ways() {
    let o = AdamOptions { betas: (0.8, 0.99), amsgrad: true, ..Default::default() };
    let group = torch_group(&o);
    assert_eq!(group["betas"], json!([0.8, 0.99]));
    assert_eq!(group["amsgrad"], json!(true));
    let mut torch = group.clone();
    torch.insert("foreach".into(), Value::Null);
    torch.insert("lr".into(), json!(0.5));
    let back = options_of_group(&AdamOptions::default(), &torch).unwrap();
    assert_eq!(back, AdamOptions { lr: 0.5, ..o });
    torch.insert("gamma".into(), json!(1.0));
    assert!(options_of_group(&AdamOptions::default(), &torch).is_err(), "an unknown hyperparameter is refused");
}
