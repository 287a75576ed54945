/* ---
kind: merge
unique_key: return_id
description: >
  One row per returned order line (duplicates removed), the reason standardised. The refund is
  as customer service booked it; gold fills in the ones not booked yet.
columns:
  return_id: Return key.
  order_line_id: The order line returned.
  return_date: Day the goods came back.
  quantity_returned: Units returned.
  return_reason: damaged_in_transit, defective, expired, wrong_item, not_as_described,
    changed_mind, or unspecified when customer service left it empty.
  is_quality_issue: The reason points at the product or its handling (damaged, defective,
    expired), not at the customer's choice.
  refund_amount: Refund booked; NULL when not booked yet.
  item_condition: resellable, damaged or destroyed.
expectations:
  positive_quantity: {expect: quantity_returned > 0, action: quarantine}
checks:
  - unique: return_id
  - not_null: [return_id, order_line_id, return_date, return_reason]
  - accepted_values:
      column: return_reason
      values: [damaged_in_transit, defective, expired, wrong_item, not_as_described,
               changed_mind, unspecified]
  - accepted_values: {column: item_condition, values: [resellable, damaged, destroyed]}
  - relationships: {column: order_line_id, to: silver.stg_order_lines.order_line_id}
    severity: warn
--- */
with ranked as (
    select
        *,
        row_number() over (
            partition by return_id order by _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.returns
    where return_id is not null
),

cleaned as (
    select
        return_id,
        order_line_id,
        return_date,
        quantity_returned,
        coalesce(nullif(lower(replace(trim(return_reason), ' ', '_')), ''), 'unspecified')
            as return_reason,
        refund_amount,
        lower(trim(item_condition)) as item_condition
    from ranked
    where version_rank = 1
)

select
    return_id,
    order_line_id,
    return_date,
    quantity_returned,
    return_reason,
    return_reason in ('damaged_in_transit', 'defective', 'expired') as is_quality_issue,
    refund_amount,
    item_condition
from cleaned
