//! Compiles the XDP program of multi-buffer AF_XDP ports
//! (bpf/xsk_frags.c) with clang for the BPF target; the object is
//! embedded in the library (src/port/xdp_prog.rs). clang is a build
//! dependency already: libxdp-sys builds libxdp and its BPF objects with
//! it.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "bpf/xsk_frags.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CLANG");
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("xsk_frags.o");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let status = Command::new(&clang)
        .args([
            "-O2", "-g", "-Wall", "-Werror", "-target", "bpf", "-c", src, "-o",
        ])
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{clang} failed to compile {src} ({s})"),
        Err(e) => panic!(
            "cannot run {clang} to compile {src}: {e} (install clang, or set CLANG to its path)"
        ),
    }
}
