//! `soak [MINUTES]`: vswitchd under random churn while checked traffic
//! flows (see vswitch_tests::soak). Run as root, through scripts/soak.
//! SOAK_SEED picks the churn (printed, to replay a run); SOAK_FLAPS=0
//! leaves out link flaps and veth recreation under configured ports.

fn main() {
    let minutes = match std::env::args().nth(1) {
        None => 10.0,
        Some(m) => match m.parse::<f64>() {
            Ok(m) if m > 0.0 => m,
            _ => {
                eprintln!("usage: soak [MINUTES]   (MINUTES > 0, fractions allowed; default 10)");
                std::process::exit(2);
            }
        },
    };
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let flaps = std::env::var("SOAK_FLAPS").map_or(true, |v| v != "0");
    let opts = vswitch_tests::soak::Options {
        minutes,
        seed,
        flaps,
    };
    std::process::exit(vswitch_tests::soak::run(&opts));
}
