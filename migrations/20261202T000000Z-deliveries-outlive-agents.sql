-- Deleting an agent keeps its delivery history (audit value): drop the ON DELETE CASCADE foreign
-- key from agent_config_deliveries to agents. A deleted agent's rows stay as they were, listed
-- with their instance_uid (GET …/deliveries, GET …/agents/{uid}/deliveries); an agent that
-- enrolls again with the same uid continues them. Roll-ups and retries count only current agents
-- (src/fleet/deliveries/repository.ts). The agent's keys still go with it (agent_keys cascade).
--
-- That foreign key was also how a tenant's deletion reached its deliveries (tenant → agents →
-- deliveries): a direct one to tenants takes its place. Every existing row has its tenant (it
-- had an agent of that tenant), so adding it cannot fail; its index is the (tenant_id, …) ones.
ALTER TABLE agent_config_deliveries
  DROP CONSTRAINT agent_config_deliveries_tenant_id_instance_uid_fkey,
  ADD CONSTRAINT agent_config_deliveries_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE;
