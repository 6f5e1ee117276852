//! Records the git commit the fleet is built from, for the default worker build id
//! (`fleet::versioning::default_build_id`): `FLEET_GIT_COMMIT` when the build sets it (an image
//! built without `.git`), else `git rev-parse HEAD`, else nothing (the build id then falls back to
//! a hash of the executable).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=FLEET_GIT_COMMIT");
    let commit = std::env::var("FLEET_GIT_COMMIT").ok().map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).or_else(git_commit);
    if let Some(commit) = commit {
        println!("cargo:rustc-env=FLEET_GIT_COMMIT={commit}");
    }
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !text.is_empty()).then_some(text)
}

fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Run again when HEAD moves (a checkout) or the branch it names does (a commit), loose or
    // packed. Only existing files: cargo reruns on every build for a missing one.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(commit)
}
