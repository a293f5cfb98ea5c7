"""Run a SAM template's resources locally on moto, with nothing deployed."""

from .aws_faults import AwsFaults, FaultInjector
from .lambda_dispatch import InvocationResult, LambdaContext, LambdaDispatcher
from .provision import ApiSpec, FunctionSpec, Stack, provision
from .runner import LocalStack
from .template import (
    PseudoParameters,
    Template,
    TemplateError,
    load_template,
    parse_parameter_overrides,
)

__all__ = [
    "ApiSpec",
    "AwsFaults",
    "FaultInjector",
    "FunctionSpec",
    "InvocationResult",
    "LambdaContext",
    "LambdaDispatcher",
    "LocalStack",
    "PseudoParameters",
    "Stack",
    "Template",
    "TemplateError",
    "load_template",
    "parse_parameter_overrides",
    "provision",
]
