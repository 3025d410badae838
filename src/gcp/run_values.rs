//! The values Cloud Run accepts, checked before anything runs: service and job names, region
//! names, CPU and memory limits, and the room a service name leaves for the tag of a
//! no-traffic candidate. A value Cloud Run would refuse is reported at once (literal values
//! when the pipeline loads, the rest when the step starts) instead of failing the deploy after
//! the steps before it already ran.

use super::cloud_run::RunResource;
use super::run_traffic::CANDIDATE_TAG;

/// A value Cloud Run would refuse, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("Cloud Run {noun} name `{name}` {problem}", noun = resource.noun())]
    Name {
        resource: RunResource,
        name: String,
        problem: NameProblem,
    },
    #[error("`{region}` is not a region name such as `europe-west1`")]
    Region { region: String },
    #[error("`{zone}` is a zone; Cloud Run takes its region, `{region}`")]
    Zone { zone: String, region: String },
    #[error(
        "CPU limit `{cpu}` is not one Cloud Run accepts: 1, 2, 4, 6 or 8, or from 0.08 to 1 in steps of 0.001 (`500m` is 0.5)"
    )]
    Cpu { cpu: String },
    #[error(
        "memory limit `{memory}` is not a quantity such as `512Mi` or `2Gi` (a number with one of the suffixes Ki, Mi, Gi, Ti, k, M, G, T)"
    )]
    MemoryFormat { memory: String },
    #[error("memory limit `{memory}` is outside what Cloud Run offers, 128Mi to 32Gi")]
    MemoryRange { memory: String },
    #[error("with {cpu} CPU, Cloud Run takes a memory limit from {min} to {max}, not `{memory}`")]
    CpuMemory {
        cpu: String,
        memory: String,
        min: &'static str,
        max: &'static str,
    },
    #[error(
        "service name `{service}` has {len} characters: with `no_traffic`, Cloud Run's limit of {TAG_AND_NAME} characters for a tag and its service name together leaves {room} for the name (the candidate's tag is `{CANDIDATE_TAG}`)",
        len = service.len(),
        room = TAG_AND_NAME - CANDIDATE_TAG.len()
    )]
    NoRoomForTag { service: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("is empty")]
    Empty,
    #[error("has {len} characters; Cloud Run allows at most {max}")]
    TooLong { len: usize, max: usize },
    #[error("does not begin with a lowercase letter")]
    Start,
    #[error("ends with a hyphen")]
    End,
    #[error("holds `{0}`; only lowercase letters, digits and hyphens are allowed")]
    Character(char),
}

/// The longest name of each resource. Services: the Admin API's `serviceId` "must begin with
/// letter, and cannot end with hyphen; must contain fewer than 50 characters"
/// (<https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/create>).
/// Jobs: the v2 reference states no length, Cloud Run names a job like every resource it
/// serves, a DNS label (RFC 1035) of at most 63 characters.
fn longest(resource: RunResource) -> usize {
    match resource {
        RunResource::Service => 49,
        RunResource::Job => 63,
    }
}

/// "Combined traffic tag and service name cannot exceed 46 characters" (Cloud Run's answer to
/// a longer one: together they make the DNS label of the tag's URL).
pub const TAG_AND_NAME: usize = 46;

/// A service or job name as Cloud Run accepts it: lowercase letters, digits and hyphens,
/// beginning with a letter, not ending with a hyphen, and not too long.
pub fn check_name(resource: RunResource, name: &str) -> Result<(), ValueError> {
    let problem = if name.is_empty() {
        Some(NameProblem::Empty)
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        Some(NameProblem::Character(c))
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some(NameProblem::Start)
    } else if name.ends_with('-') {
        Some(NameProblem::End)
    } else if name.len() > longest(resource) {
        Some(NameProblem::TooLong {
            len: name.len(),
            max: longest(resource),
        })
    } else {
        None
    };
    match problem {
        Some(problem) => Err(ValueError::Name {
            resource,
            name: name.to_string(),
            problem,
        }),
        None => Ok(()),
    }
}

/// A service that deploys its candidates under [`CANDIDATE_TAG`] must leave room for it.
pub fn check_tag_room(service: &str) -> Result<(), ValueError> {
    if service.len() + CANDIDATE_TAG.len() > TAG_AND_NAME {
        return Err(ValueError::NoRoomForTag {
            service: service.to_string(),
        });
    }
    Ok(())
}

/// A region name: `<area>-<direction><number>`, like `europe-west1`, `us-central1` or
/// `northamerica-northeast2` (<https://cloud.google.com/run/docs/locations>). A zone
/// (`europe-west1-b`) is named as such.
pub fn check_region(region: &str) -> Result<(), ValueError> {
    if is_region(region) {
        return Ok(());
    }
    if let Some((head, zone)) = region.rsplit_once('-')
        && zone.len() == 1
        && zone.chars().all(|c| c.is_ascii_lowercase())
        && is_region(head)
    {
        return Err(ValueError::Zone {
            zone: region.to_string(),
            region: head.to_string(),
        });
    }
    Err(ValueError::Region {
        region: region.to_string(),
    })
}

fn is_region(text: &str) -> bool {
    let Some((area, rest)) = text.split_once('-') else {
        return false;
    };
    let letters = rest.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &rest[letters.len()..];
    !area.is_empty()
        && area.chars().all(|c| c.is_ascii_lowercase())
        && !letters.is_empty()
        && letters.chars().all(|c| c.is_ascii_lowercase())
        && !digits.is_empty()
}

/// A CPU limit in thousandths of a CPU. "The only supported values for CPU are '1', '2', '4',
/// '6' and '8'" (`ResourceRequirements.limits`, Admin API v2), and "if you want to use less
/// than 1 vCPU, you can select any value between 0.08 and 1, in increments of 0.001"
/// (<https://cloud.google.com/run/docs/configuring/services/cpu>). Kubernetes' `500m` form is
/// a thousandth each.
pub fn cpu_millis(cpu: &str) -> Result<u64, ValueError> {
    let error = || ValueError::Cpu {
        cpu: cpu.to_string(),
    };
    let millis = match cpu.strip_suffix('m') {
        Some(whole) => whole.parse::<u64>().ok(),
        None => decimal_thousandths(cpu),
    }
    .ok_or_else(error)?;
    let whole_cpus = [1000, 2000, 4000, 6000, 8000];
    if (80..=1000).contains(&millis) || whole_cpus.contains(&millis) {
        Ok(millis)
    } else {
        Err(error())
    }
}

/// `1`, `0.5`, `0.083` as thousandths; more than three decimals is not a quantity Cloud Run
/// takes.
fn decimal_thousandths(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    if fraction.len() > 3 {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction: u64 = format!("{fraction:0<3}").parse().ok()?;
    whole.checked_mul(1000)?.checked_add(fraction)
}

const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;

/// A memory limit in bytes: a Kubernetes quantity (`512Mi`, `2Gi`, `1G`) from 128 MiB, the
/// smallest (first generation), to 32 GiB, the largest
/// (<https://cloud.google.com/run/docs/configuring/services/memory-limits>).
pub fn memory_bytes(memory: &str) -> Result<u64, ValueError> {
    let split = memory
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(memory.len());
    let (number, suffix) = memory.split_at(split);
    let unit: u64 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => MI,
        "Gi" => GI,
        "Ti" => 1 << 40,
        _ => 0,
    };
    let thousandths = decimal_thousandths(number).filter(|_| unit > 0);
    let Some(thousandths) = thousandths else {
        return Err(ValueError::MemoryFormat {
            memory: memory.to_string(),
        });
    };
    let bytes = (thousandths as u128 * unit as u128 / 1000) as u64;
    if !(128 * MI..=32 * GI).contains(&bytes) {
        return Err(ValueError::MemoryRange {
            memory: memory.to_string(),
        });
    }
    Ok(bytes)
}

/// CPU and memory go together: the table "memory required" for each CPU limit
/// (<https://cloud.google.com/run/docs/configuring/services/cpu>).
pub fn check_cpu_memory(cpu: &str, memory: &str) -> Result<(), ValueError> {
    let (millis, bytes) = (cpu_millis(cpu)?, memory_bytes(memory)?);
    let (min, max) = match millis {
        ..500 => ("128Mi", "512Mi"),
        500..1000 => ("128Mi", "1Gi"),
        1000 => ("128Mi", "4Gi"),
        2000 => ("128Mi", "8Gi"),
        4000 => ("2Gi", "16Gi"),
        6000 => ("4Gi", "24Gi"),
        _ => ("4Gi", "32Gi"),
    };
    let within =
        memory_bytes(min).is_ok_and(|m| bytes >= m) && memory_bytes(max).is_ok_and(|m| bytes <= m);
    if within {
        return Ok(());
    }
    Err(ValueError::CpuMemory {
        cpu: cpu.to_string(),
        memory: memory.to_string(),
        min,
        max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_cloud_runs_rules() {
        let service = |n: &str| check_name(RunResource::Service, n);
        assert_eq!(service("dbt-docs-2"), Ok(()));
        assert_eq!(service(&"a".repeat(49)), Ok(()));
        let problem = |r: Result<(), ValueError>| match r {
            Err(ValueError::Name { problem, .. }) => Some(problem),
            _ => None,
        };
        assert_eq!(
            problem(service(&"a".repeat(50))),
            Some(NameProblem::TooLong { len: 50, max: 49 })
        );
        assert_eq!(check_name(RunResource::Job, &"a".repeat(63)), Ok(()));
        assert_eq!(problem(service("Docs")), Some(NameProblem::Character('D')));
        assert_eq!(
            problem(service("dbt_runner")),
            Some(NameProblem::Character('_'))
        );
        assert_eq!(problem(service("1docs")), Some(NameProblem::Start));
        assert_eq!(problem(service("-docs")), Some(NameProblem::Start));
        assert_eq!(problem(service("docs-")), Some(NameProblem::End));
        assert_eq!(problem(service("")), Some(NameProblem::Empty));
        assert_eq!(
            service("Docs").unwrap_err().to_string(),
            "Cloud Run service name `Docs` holds `D`; only lowercase letters, digits and hyphens are allowed"
        );
    }

    #[test]
    fn a_no_traffic_service_leaves_room_for_the_tag() {
        let fits = "s".repeat(TAG_AND_NAME - CANDIDATE_TAG.len());
        assert_eq!(check_tag_room(&fits), Ok(()));
        let long = format!("{fits}x");
        assert!(check_tag_room(&long).is_err());
    }

    #[test]
    fn regions_and_zones() {
        for ok in [
            "europe-west1",
            "us-central1",
            "northamerica-northeast2",
            "me-central2",
        ] {
            assert_eq!(check_region(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_region("europe-west1-b"),
            Err(ValueError::Zone {
                zone: "europe-west1-b".into(),
                region: "europe-west1".into()
            })
        );
        for bad in [
            "EU",
            "europe-west",
            "europe_west1",
            "Europe-west1",
            "global",
            "",
        ] {
            assert!(
                matches!(check_region(bad), Err(ValueError::Region { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn cpu_limits() {
        assert_eq!(cpu_millis("1"), Ok(1000));
        assert_eq!(cpu_millis("8"), Ok(8000));
        assert_eq!(cpu_millis("0.5"), Ok(500));
        assert_eq!(cpu_millis(".083"), Ok(83));
        assert_eq!(cpu_millis("500m"), Ok(500));
        assert_eq!(cpu_millis("2000m"), Ok(2000));
        for bad in ["3", "16", "0.05", "0.0805", "1.5", "two", "", "1e3", "-1"] {
            assert!(cpu_millis(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memory_limits() {
        assert_eq!(memory_bytes("512Mi"), Ok(512 * MI));
        assert_eq!(memory_bytes("2Gi"), Ok(2 * GI));
        assert_eq!(memory_bytes("1.5Gi"), Ok(3 * GI / 2));
        assert_eq!(memory_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(memory_bytes("32Gi"), Ok(32 * GI));
        for bad in ["512MB", "2gb", "Gi", "512 Mi", "1e9"] {
            assert!(
                matches!(memory_bytes(bad), Err(ValueError::MemoryFormat { .. })),
                "{bad}"
            );
        }
        for out in ["64Mi", "33Gi", "1024"] {
            assert!(
                matches!(memory_bytes(out), Err(ValueError::MemoryRange { .. })),
                "{out}"
            );
        }
    }

    #[test]
    fn cpu_and_memory_go_together() {
        assert_eq!(check_cpu_memory("1", "4Gi"), Ok(()));
        assert_eq!(check_cpu_memory("0.5", "1Gi"), Ok(()));
        assert_eq!(check_cpu_memory("4", "2Gi"), Ok(()));
        assert!(check_cpu_memory("1", "8Gi").is_err());
        assert!(check_cpu_memory("0.25", "1Gi").is_err());
        let e = check_cpu_memory("4", "1Gi").unwrap_err();
        assert_eq!(
            e.to_string(),
            "with 4 CPU, Cloud Run takes a memory limit from 2Gi to 16Gi, not `1Gi`"
        );
    }
}
