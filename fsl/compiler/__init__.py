"""The compiler: playbook AST -> Plan (plan.py), one pass per module (passes/)."""
from .compile import compile_module, compile_playbook, load_plan, plan_dict, plan_hashes, plan_json
from .plan import Plan

__all__ = ["Plan", "compile_module", "compile_playbook", "load_plan", "plan_dict", "plan_hashes", "plan_json"]
