//! SQL functions Diesel does not ship.

use diesel::define_sql_function;
use diesel::sql_types::Text;

define_sql_function!(fn lower(x: Text) -> Text);
