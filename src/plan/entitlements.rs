//! BuildKit's entitlements: what a build must be granted (`strata build
//! --allow …`) before a step may leave the sandbox — `network.host` for
//! `RUN --network=host` (or `--network host` for the whole build),
//! `security.insecure` for `RUN --security=insecure`. Checked once, over the
//! whole plan, before anything runs; the messages are BuildKit's.
//! See: moby/buildkit util/entitlements/entitlements.go

use std::collections::BTreeSet;

use super::{BuildPlan, Network, Op};

/// One privilege a build can be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entitlement {
    /// `network.host`: `RUN --network=host`.
    NetworkHost,
    /// `security.insecure`: `RUN --security=insecure`.
    SecurityInsecure,
}

impl Entitlement {
    /// BuildKit's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Entitlement::NetworkHost => "network.host",
            Entitlement::SecurityInsecure => "security.insecure",
        }
    }
}

/// Why a build may not run as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntitlementError {
    /// An `--allow` name that is neither `network.host` nor `security.insecure`.
    #[error("unknown entitlement {0}")]
    Unknown(String),
    /// A step needs an entitlement that was not granted.
    #[error("{} is not allowed (grant it with --allow {})", .0.name(), .0.name())]
    NotAllowed(Entitlement),
}

/// The entitlements a build was granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entitlements(BTreeSet<Entitlement>);

impl Entitlements {
    /// Parses `--allow` values, each a comma-separated list.
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<Entitlements, EntitlementError> {
        let mut set = BTreeSet::new();
        for name in values.iter().flat_map(|v| v.as_ref().split(',')).map(str::trim).filter(|n| !n.is_empty()) {
            let entitlement = match name {
                "network.host" => Entitlement::NetworkHost,
                "security.insecure" => Entitlement::SecurityInsecure,
                other => return Err(EntitlementError::Unknown(other.to_owned())),
            };
            set.insert(entitlement);
        }
        Ok(Entitlements(set))
    }

    /// Whether `entitlement` was granted.
    pub fn allows(&self, entitlement: Entitlement) -> bool {
        self.0.contains(&entitlement)
    }

    /// Fails on the first privilege the build needs and was not granted:
    /// a host network for the build (`build_network`) or for a RUN, an
    /// insecure RUN. Stages the target does not need are not looked at.
    pub fn check(&self, plan: &BuildPlan, build_network: Network) -> Result<(), EntitlementError> {
        let require = |entitlement| if self.allows(entitlement) { Ok(()) } else { Err(EntitlementError::NotAllowed(entitlement)) };
        if build_network == Network::Host {
            require(Entitlement::NetworkHost)?;
        }
        for step in plan.ordered().flat_map(|stage| &stage.steps) {
            let Op::Run(run) = &step.op else { continue };
            if run.network == Network::Host {
                require(Entitlement::NetworkHost)?;
            }
            if run.insecure {
                require(Entitlement::SecurityInsecure)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeated_and_comma_separated_values() {
        let set = Entitlements::parse(&["network.host,security.insecure", "network.host"]).unwrap();
        assert!(set.allows(Entitlement::NetworkHost) && set.allows(Entitlement::SecurityInsecure));
        assert_eq!(Entitlements::parse(&["device"]), Err(EntitlementError::Unknown("device".into())));
        assert_eq!(EntitlementError::NotAllowed(Entitlement::NetworkHost).to_string(), "network.host is not allowed (grant it with --allow network.host)");
    }
}
