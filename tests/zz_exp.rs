use tch::{Kind, Tensor};
#[test]
fn exp() {
    let data = [-1.5f32, 0.2, 2.3, -0.7, 0.9, -2.1, 0.05, 1.4, 3.1, -0.4, 0.6, -1.2];
    let x = Tensor::from_slice(&data).view([3, 4]).to_kind(Kind::Half);
    let g = tch_parity::implementation::upstream_gradient(&[3, 4], Kind::Half);
    let xa = x.detach().set_requires_grad(true);
    let y = tch_parity::loss::softmax(&xa, 0).unwrap();
    let gh = Tensor::run_backward(&[(&y * &g).sum(Kind::Half)], &[&xa], false, false);
    let xb = x.detach().set_requires_grad(true);
    let yb = xb.softmax(0, Kind::Half);
    let gl = Tensor::run_backward(&[(&yb * &g).sum(Kind::Half)], &[&xb], false, false);
    println!("y  {:?}", Vec::<f32>::try_from(y.to_kind(Kind::Float).reshape([-1])).unwrap());
    println!("yb {:?}", Vec::<f32>::try_from(yb.to_kind(Kind::Float).reshape([-1])).unwrap());
    println!("gh {:?}", Vec::<f32>::try_from(gh[0].to_kind(Kind::Float).reshape([-1])).unwrap());
    println!("gl {:?}", Vec::<f32>::try_from(gl[0].to_kind(Kind::Float).reshape([-1])).unwrap());
    let yf = yb.detach().to_kind(Kind::Float);
    let gf = g.to_kind(Kind::Float);
    let m = (&gf * &yf).sum_dim_intlist([0i64].as_slice(), true, Kind::Float);
    println!(
        "mf {:?}",
        Vec::<f32>::try_from((&yf * (&gf - &m)).to_kind(Kind::Half).to_kind(Kind::Float).reshape([-1])).unwrap()
    );
    panic!();
}
