//! What ECS accepts as a task definition family, and as the task definition a task runs
//! (`RunTask`'s `taskDefinition`): checked where a pipeline or a flag names them, so that a
//! typo fails `validate` rather than the first Airflow task.

/// What ECS finds wrong with task definition family `name`: up to 255 letters, digits, `-`
/// and `_`.
pub fn family_problem(name: &str) -> Option<&'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() {
        Some("is empty")
    } else if !name.chars().all(allowed) {
        Some("holds a character other than a letter, a digit, `-` or `_`")
    } else if name.len() > 255 {
        Some("is longer than 255 characters")
    } else {
        None
    }
}

/// What is wrong with `reference` as the task definition of a task: a family (its latest
/// `ACTIVE` revision), `FAMILY:REVISION`, or the revision's ARN,
/// `arn:PARTITION:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION`.
pub fn task_definition_problem(reference: &str) -> Option<String> {
    let named = match reference.strip_prefix("arn:") {
        Some(rest) => match arn_resource(rest) {
            Ok(named) => named,
            Err(problem) => return Some(problem.to_string()),
        },
        None => reference,
    };
    let (family, revision) = match named.split_once(':') {
        Some((family, revision)) => (family, Some(revision)),
        None => (named, None),
    };
    if let Some(problem) = family_problem(family) {
        return Some(format!("its family `{family}` {problem}"));
    }
    let number = |r: &str| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit());
    match revision {
        Some(r) if !number(r) || r.trim_start_matches('0').is_empty() => {
            Some(format!("its revision `{r}` is not a number from 1"))
        }
        _ => None,
    }
}

/// `FAMILY:REVISION` of an ARN's `PARTITION:ecs:REGION:ACCOUNT:task-definition/...`.
fn arn_resource(rest: &str) -> Result<&str, &'static str> {
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [partition, service, region, account, resource] = parts.as_slice() else {
        return Err("an ARN has six parts separated by `:`");
    };
    let region_ok = |r: &str| {
        !r.is_empty()
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if partition.is_empty() || *service != "ecs" {
        return Err("it is not an ECS ARN (`arn:aws:ecs:...`)");
    }
    if !region_ok(region) {
        return Err("its region is not a region such as `eu-west-1`");
    }
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err("its account is not 12 digits");
    }
    let Some(named) = resource.strip_prefix("task-definition/") else {
        return Err("its resource is not `task-definition/FAMILY:REVISION`");
    };
    if !named.contains(':') {
        return Err("a task definition's ARN ends in `:REVISION`");
    }
    Ok(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_revisions_and_arns() {
        for ok in [
            "dbt-runner",
            "dbt_runner:3",
            "arn:aws:ecs:eu-west-1:123456789012:task-definition/dbt-runner:12",
            "arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/dbt:1",
        ] {
            assert_eq!(task_definition_problem(ok), None, "{ok}");
        }
        for (bad, says) in [
            ("", "is empty"),
            ("dbt runner", "a character other than"),
            ("dbt:0", "revision `0`"),
            ("dbt:latest", "revision `latest`"),
            ("dbt:", "revision ``"),
            (
                "arn:aws:ecs:eu-west-1:123456789012:task-definition/dbt",
                "ends in `:REVISION`",
            ),
            (
                "arn:aws:ecs:eu-west-1:1234:task-definition/dbt:1",
                "12 digits",
            ),
            ("arn:aws:iam::123456789012:role/dbt", "not an ECS ARN"),
            (
                "arn:aws:ecs:eu-west-1:123456789012:cluster/data",
                "task-definition/",
            ),
            ("arn:aws:ecs", "six parts"),
        ] {
            let problem = task_definition_problem(bad).unwrap_or_default();
            assert!(problem.contains(says), "{bad}: {problem}");
        }
        assert_eq!(family_problem(&"f".repeat(255)), None);
        assert!(family_problem(&"f".repeat(256)).is_some());
    }
}
