{{ config(materialized='table') }}

{% set payment_methods = var('payment_methods') %}

with orders as (
    select * from {{ ref('stg_orders') }}
),

payments as (
    select * from {{ ref('int_order_payments') }}
)

select
    orders.order_id,
    orders.customer_id,
    orders.order_date,
    orders.status,
    {% for method in payment_methods %}
    coalesce(payments.{{ method }}_amount, 0) as {{ method }}_amount,
    {% endfor %}
    coalesce(payments.total_amount, 0) as amount
from orders
left join payments on orders.order_id = payments.order_id
