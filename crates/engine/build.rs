//! Links the speech libraries the mouth timeline uses: espeak-ng (synthesis
//! with phoneme events) and PocketSphinx (English phone recognition).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for (lib, package) in [
        ("espeak-ng", "libespeak-ng-dev"),
        ("pocketsphinx", "libpocketsphinx-dev"),
        ("sphinxbase", "libsphinxbase-dev"),
    ] {
        // pkg-config, when present, tells where the library is and whether
        // it is installed at all; a missing one stops the build with advice
        // instead of an obscure linker error.
        match Command::new("pkg-config").args(["--libs-only-L", lib]).output() {
            Ok(out) if out.status.success() => {
                for dir in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Some(d) = dir.strip_prefix("-L") {
                        println!("cargo:rustc-link-search=native={d}");
                    }
                }
            }
            Ok(_) => panic!(
                "the C library {lib} was not found by pkg-config: install {package} (scripts/setup.sh installs everything)"
            ),
            Err(_) => println!("cargo:warning=pkg-config is missing; assuming {lib} is on the default library path"),
        }
        println!("cargo:rustc-link-lib={lib}");
    }
}
