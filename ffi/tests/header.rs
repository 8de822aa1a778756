//! The committed C header must be exactly what cbindgen generates from the
//! current code: CI fails on drift. `VSWITCH_BLESS=1` rewrites it.

use std::path::Path;

const REGENERATE: &str = "VSWITCH_BLESS=1 cargo test -p vswitch-ffi --test header";

fn generate() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .expect("ffi/cbindgen.toml is readable and valid");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen parses ffi/src/lib.rs");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("cbindgen writes UTF-8")
}

#[test]
fn committed_header_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/vswitch.h");
    let want = generate();
    if std::env::var_os("VSWITCH_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write ffi/include/vswitch.h");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        panic!(
            "ffi/include/vswitch.h is out of date with ffi/src/lib.rs \
             (first difference at line {}):\n  committed: {:?}\n  generated: {:?}\n\
             Regenerate it with:\n  {REGENERATE}\nand commit the result.",
            line + 1,
            have.lines().nth(line).unwrap_or("<end of file>"),
            want.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}
