//! The playground's assets are embedded from `web/dist`; without them the
//! server would serve an empty page, so the build stops and says why.

use std::path::Path;

fn main() {
    // Read when the script runs, not when it is compiled: a build script
    // reused from another checkout must still look at this one.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into());
    let dist = Path::new(&manifest).join("../../web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed={}", dist.join("assets").display());
    if !dist.join("index.html").is_file() {
        panic!(
            "\n\nThe web playground is not built: {} has no index.html.\n\
             Run `npm ci && npm run build` in web/ (scripts/setup.sh does it), then build again.\n\n",
            dist.display()
        );
    }
}
