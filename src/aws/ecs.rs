//! Amazon ECS task definitions: a family's latest revision (`DescribeTaskDefinition`), and a
//! new revision registered like it with one container's image replaced
//! (`RegisterTaskDefinition`). Everything else of the revision (roles, CPU and memory,
//! network mode, volumes, the other containers, environment, logging, tags) is kept as it
//! is: the infrastructure code that made the family owns those, dagship owns the image.

use aws_config::SdkConfig;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{Tag, TaskDefinition, TaskDefinitionField};
use aws_smithy_types::error::display::DisplayErrorContext;

use super::endpoints::Endpoints;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcsError {
    #[error(
        "task definition family `{family}` has no active revision: register its first one \
         (Terraform, CloudFormation, the console); dagship registers the next ones"
    )]
    NoFamily { family: String },
    #[error("task definition family `{family}` has no container `{wanted}` (it has {})", names(.containers))]
    NoContainer {
        family: String,
        wanted: String,
        containers: Vec<String>,
    },
    #[error(
        "task definition family `{family}` has {} containers ({}): name the one to pin with `container`",
        .containers.len(),
        names(.containers)
    )]
    WhichContainer {
        family: String,
        containers: Vec<String>,
    },
    #[error("{operation} task definition family `{family}`: {detail}")]
    Call {
        operation: &'static str,
        family: String,
        detail: String,
    },
}

fn names(containers: &[String]) -> String {
    let quoted: Vec<String> = containers.iter().map(|c| format!("`{c}`")).collect();
    quoted.join(", ")
}

/// A family's latest active revision, and its tags.
#[derive(Debug, Clone)]
pub struct Latest {
    pub family: String,
    pub arn: String,
    pub definition: TaskDefinition,
    pub tags: Vec<Tag>,
}

impl Latest {
    /// The container whose image a deploy pins (`wanted`, else the only one), and its image.
    pub fn container(&self, wanted: Option<&str>) -> Result<(String, String), EcsError> {
        let containers = self.definition.container_definitions();
        let all: Vec<String> = containers
            .iter()
            .filter_map(|c| c.name())
            .map(str::to_string)
            .collect();
        let found = match wanted {
            Some(name) => containers.iter().find(|c| c.name() == Some(name)),
            None if containers.len() == 1 => containers.first(),
            None => {
                return Err(EcsError::WhichContainer {
                    family: self.family.clone(),
                    containers: all,
                });
            }
        };
        let Some(found) = found else {
            return Err(EcsError::NoContainer {
                family: self.family.clone(),
                wanted: wanted.unwrap_or_default().to_string(),
                containers: all,
            });
        };
        let name = found.name().unwrap_or_default().to_string();
        Ok((name, found.image().unwrap_or_default().to_string()))
    }
}

pub struct Ecs {
    client: aws_sdk_ecs::Client,
}

impl Ecs {
    pub fn new(config: &SdkConfig, endpoints: &Endpoints) -> Ecs {
        let mut conf = aws_sdk_ecs::config::Builder::from(config);
        if let Some(url) = &endpoints.ecs {
            conf = conf.endpoint_url(url);
        }
        Ecs {
            client: aws_sdk_ecs::Client::from_conf(conf.build()),
        }
    }

    /// The latest active revision of `family`, with its tags; `None` when it has none.
    pub async fn latest(&self, family: &str) -> Result<Option<Latest>, EcsError> {
        let call = self
            .client
            .describe_task_definition()
            .task_definition(family)
            .include(TaskDefinitionField::Tags)
            .send()
            .await;
        let found = match call {
            Ok(found) => found,
            // ECS's answer for a family without an active revision.
            Err(e)
                if e.code() == Some("ClientException")
                    && e.message()
                        .is_some_and(|m| m.contains("Unable to describe")) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(call_error("reading", family, &e)),
        };
        let Some(definition) = found.task_definition().cloned() else {
            return Ok(None);
        };
        Ok(Some(Latest {
            family: family.to_string(),
            arn: definition
                .task_definition_arn()
                .unwrap_or_default()
                .to_string(),
            tags: found.tags().to_vec(),
            definition,
        }))
    }

    /// Registers the next revision of `latest`'s family: the same in every field, but
    /// `container` runs `image`. Returns the new revision's ARN.
    pub async fn register(
        &self,
        latest: &Latest,
        container: &str,
        image: &str,
    ) -> Result<String, EcsError> {
        let td = &latest.definition;
        let mut containers = td.container_definitions.clone().unwrap_or_default();
        for c in &mut containers {
            if c.name() == Some(container) {
                c.image = Some(image.to_string());
            }
        }
        let tags = user_tags(&latest.tags);
        let call = self
            .client
            .register_task_definition()
            .family(&latest.family)
            .set_container_definitions(Some(containers))
            .set_task_role_arn(td.task_role_arn.clone())
            .set_execution_role_arn(td.execution_role_arn.clone())
            .set_network_mode(td.network_mode.clone())
            .set_volumes(td.volumes.clone())
            .set_placement_constraints(td.placement_constraints.clone())
            .set_requires_compatibilities(td.requires_compatibilities.clone())
            .set_cpu(td.cpu.clone())
            .set_memory(td.memory.clone())
            .set_pid_mode(td.pid_mode.clone())
            .set_ipc_mode(td.ipc_mode.clone())
            .set_proxy_configuration(td.proxy_configuration.clone())
            .set_ephemeral_storage(td.ephemeral_storage.clone())
            .set_runtime_platform(td.runtime_platform.clone())
            .set_enable_fault_injection(td.enable_fault_injection)
            .set_tags(tags)
            .send()
            .await;
        let registered = call.map_err(|e| call_error("registering", &latest.family, &e))?;
        let arn = registered
            .task_definition()
            .and_then(|t| t.task_definition_arn());
        Ok(arn.unwrap_or_default().to_string())
    }
}

/// The tags a new revision carries over: all but AWS's own (`aws:cloudformation:stack-name`
/// on a family CloudFormation made), which `RegisterTaskDefinition` refuses.
fn user_tags(tags: &[Tag]) -> Option<Vec<Tag>> {
    let ours: Vec<Tag> = tags
        .iter()
        .filter(|t| !t.key().is_some_and(|k| k.starts_with("aws:")))
        .cloned()
        .collect();
    (!ours.is_empty()).then_some(ours)
}

fn call_error<E: std::error::Error + 'static>(
    operation: &'static str,
    family: &str,
    e: &E,
) -> EcsError {
    EcsError::Call {
        operation,
        family: family.to_string(),
        detail: DisplayErrorContext(e).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awss_own_tags_stay_behind() {
        let tag = |k: &str| Tag::builder().key(k).value("v").build();
        let kept = user_tags(&[tag("team"), tag("aws:cloudformation:stack-name")]).unwrap();
        let keys: Vec<&str> = kept.iter().filter_map(|t| t.key()).collect();
        assert_eq!(keys, ["team"]);
        assert_eq!(user_tags(&[tag("aws:cloudformation:logical-id")]), None);
    }
}
