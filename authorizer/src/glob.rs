//! IAM wildcard patterns (`*`: any run of characters, `/` included; `?`: one
//! character): matching a string, and whether two patterns can match a common
//! string. The policy uses them to evaluate and to plan Deny statements; the
//! route table describes the requests a route matches in the same atoms.

/// IAM wildcard match of `text` against `pattern`.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// One atom of a glob pattern for [`patterns_intersect`]: a byte, a one-byte
/// class or a star.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Atom {
    /// This byte.
    Lit(u8),
    /// Any one byte (IAM `?`).
    Any,
    /// Any one byte but `/`.
    NonSlash,
    /// Any run of bytes, possibly empty (IAM `*`).
    AnyStar,
    /// Any run of bytes without `/`, possibly empty.
    SegStar,
}

impl Atom {
    fn is_star(self) -> bool {
        matches!(self, Self::AnyStar | Self::SegStar)
    }

    /// Whether some single byte is in both classes (stars by their class).
    fn overlaps(self, other: Self) -> bool {
        use Atom::*;
        match (self, other) {
            (Lit(a), Lit(b)) => a == b,
            (Lit(c), NonSlash | SegStar) | (NonSlash | SegStar, Lit(c)) => c != b'/',
            _ => true,
        }
    }
}

/// An IAM resource pattern (`*` and `?` wildcards) as atoms.
pub(crate) fn iam_atoms(pattern: &str) -> Vec<Atom> {
    pattern
        .bytes()
        .map(|b| match b {
            b'*' => Atom::AnyStar,
            b'?' => Atom::Any,
            b => Atom::Lit(b),
        })
        .collect()
}

/// Whether some string matches both patterns.
pub(crate) fn patterns_intersect(a: &[Atom], b: &[Atom]) -> bool {
    let mut memo = vec![None; (a.len() + 1) * (b.len() + 1)];
    intersect(a, b, 0, 0, &mut memo)
}

/// Whether some string matches both IAM `*`/`?` patterns.
pub(crate) fn globs_intersect(a: &str, b: &str) -> bool {
    patterns_intersect(&iam_atoms(a), &iam_atoms(b))
}

// Both at a star: consuming a byte in both leaves the state unchanged, so it
// is enough to let one of them end here.
fn intersect(a: &[Atom], b: &[Atom], i: usize, j: usize, memo: &mut [Option<bool>]) -> bool {
    let slot = i * (b.len() + 1) + j;
    if let Some(v) = memo[slot] {
        return v;
    }
    let v = match (a.get(i).copied(), b.get(j).copied()) {
        (None, None) => true,
        (Some(x), Some(y)) if x.is_star() && y.is_star() => {
            intersect(a, b, i + 1, j, memo) || intersect(a, b, i, j + 1, memo)
        }
        (Some(x), y) if x.is_star() => {
            intersect(a, b, i + 1, j, memo)
                || y.is_some_and(|y| x.overlaps(y) && intersect(a, b, i, j + 1, memo))
        }
        (x, Some(y)) if y.is_star() => {
            intersect(a, b, i, j + 1, memo)
                || x.is_some_and(|x| x.overlaps(y) && intersect(a, b, i + 1, j, memo))
        }
        (Some(x), Some(y)) => x.overlaps(y) && intersect(a, b, i + 1, j + 1, memo),
        _ => false,
    };
    memo[slot] = Some(v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching_follows_iam() {
        assert!(glob_match("a/*", "a/b/c"));
        assert!(glob_match("a/*", "a/"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(!glob_match("GET/events", "GET/events/1"));
        assert!(glob_match("*/files/*", "PUT/files/x/y"));
        assert!(!glob_match("GET/Events", "GET/events"), "case-sensitive");
    }

    #[test]
    fn glob_intersection() {
        assert!(globs_intersect("GET/events/*", "GET/events/*/secret"));
        assert!(globs_intersect("*/x", "GET/*"));
        assert!(!globs_intersect("GET/events/*", "POST/events/*"));
        assert!(!globs_intersect("GET/events", "GET/events/*"));
        assert!(globs_intersect("GET/events/*", "GET/events/special"));
        assert!(globs_intersect("", ""));
        assert!(!globs_intersect("a", ""));
    }

    #[test]
    fn segment_atoms_never_cross_a_slash() {
        let one_segment = [Atom::Lit(b'a'), Atom::NonSlash, Atom::SegStar];
        assert!(patterns_intersect(&one_segment, &iam_atoms("a*")));
        assert!(patterns_intersect(&one_segment, &iam_atoms("abc")));
        assert!(!patterns_intersect(&one_segment, &iam_atoms("a/b")));
        assert!(!patterns_intersect(&one_segment, &iam_atoms("a")));
    }
}
