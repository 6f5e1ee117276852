//! Where an enhancement batch writes: each source key under the destination prefix, and the
//! destinations a batch refuses.

use contracts::ObjectRef;
use contracts::object::PrefixRef;

/// Where a batch item goes: the source key with the source prefix replaced by the destination
/// prefix (deterministic, so re-running a batch overwrites).
pub fn batch_destination(source: &ObjectRef, from: &PrefixRef, to: &PrefixRef) -> Result<ObjectRef, contracts::ObjectRefError> {
    let relative = source.key().strip_prefix(from.prefix.as_str()).unwrap_or(source.key()).trim_start_matches('/');
    let key = if to.prefix.is_empty() || to.prefix.ends_with('/') { format!("{}{relative}", to.prefix) } else { format!("{}/{relative}", to.prefix) };
    ObjectRef::new(to.bucket.clone(), key)
}

/// Why a batch's destination cannot be used: results written under the source prefix would be
/// listed as new inputs, and a destination equal to the source would be overwritten (and
/// deleted by the compensation when a result fails verification).
pub fn batch_overlap(source: &PrefixRef, destination: &PrefixRef) -> Option<String> {
    // Keys are compared as S3 lists them: a listing of `photos` also returns `photos-2/...`.
    // Results go under the destination prefix as a folder (see [`batch_destination`]).
    let written = if destination.prefix.is_empty() || destination.prefix.ends_with('/') {
        destination.prefix.clone()
    } else {
        format!("{}/", destination.prefix)
    };
    (source.bucket == destination.bucket && (written.starts_with(&source.prefix) || source.prefix.starts_with(&written)))
        .then(|| format!("destination {destination} overlaps source {source}: choose a destination outside the source prefix"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_keys() {
        let from: PrefixRef = "s3://inbox/flights/".parse().unwrap();
        let to: PrefixRef = "s3://outbox/enhanced".parse().unwrap();
        let src = ObjectRef::new("inbox", "flights/day1/a.jpg").unwrap();
        assert_eq!(batch_destination(&src, &from, &to).unwrap().to_string(), "s3://outbox/enhanced/day1/a.jpg");
        assert!(batch_overlap(&from, &to).is_none());
        assert!(batch_overlap(&from, &"s3://inbox/flights/enhanced/".parse().unwrap()).is_some());
        assert!(batch_overlap(&from, &"s3://inbox/".parse().unwrap()).is_some());
        assert!(batch_overlap(&from, &"s3://inbox/enhanced/".parse().unwrap()).is_none());
        assert!(batch_overlap(&from, &"s3://inbox/flights-2".parse().unwrap()).is_none());
        assert!(batch_overlap(&"s3://inbox/flights".parse().unwrap(), &"s3://inbox/flights-2".parse().unwrap()).is_some());
        let root: PrefixRef = "s3://outbox".parse().unwrap();
        assert_eq!(batch_destination(&src, &from, &root).unwrap().key(), "day1/a.jpg");
    }
}
